"""The console's web app and its server, run inside the centre's process on its event loop."""

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from centre.console import api, pages, relay
from centre.console.access import LoginRequiredError, WrongRoleError
from centre.console.actions import Actions
from centre.console.context import ConsoleContext, console_context, utc_now
from centre.console.settings import ConsoleSettings
from centre.relay import CallRelay
from webguard.limits import BodyLimit
from webguard.serving import STOP_S, security_headers, server_for

log = logging.getLogger("telecare.centre.console")
_HERE = Path(str(resources.files("centre.console")))


def build_app(ctx: ConsoleContext) -> FastAPI:
    """The console's pages and JSON API over one centre's database."""
    app = FastAPI(
        title="Telecare monitoring centre",
        summary="The operators' console and its JSON API.",
        docs_url=None,  # the interactive docs load scripts from a CDN; the schema is enough
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.context = ctx
    app.state.login_gate = asyncio.Lock()
    app.state.templates = _templates(ZoneInfo(ctx.settings.timezone), ctx.clock)
    app.include_router(api.router)
    app.include_router(pages.router)
    if ctx.relay is not None and ctx.settings.public_url is not None:
        app.include_router(relay.router)
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
    app.add_exception_handler(LoginRequiredError, _to_login)
    app.add_exception_handler(WrongRoleError, _wrong_role)
    app.add_exception_handler(HTTPException, _refused)
    app.middleware("http")(security_headers)
    # A note or a login form is far smaller; outermost, so bounded before anything reads it.
    app.add_middleware(BodyLimit, under={relay.RELAY_PREFIX: relay.RELAY_MAX_BODY_BYTES})
    return app


def ago(seconds: float) -> str:
    """A duration as an operator reads it at a glance: "40 s", "12 min", "3 h 05 min"."""
    whole = max(0, int(seconds))
    if whole < 60:  # noqa: PLR2004 (a minute)
        return f"{whole} s"
    if whole < 3600:  # noqa: PLR2004 (an hour)
        return f"{whole // 60} min"
    if whole < 2 * 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} days"


def _templates(zone: ZoneInfo, clock: Callable[[], datetime]) -> Jinja2Templates:
    templates = Jinja2Templates(directory=_HERE / "templates")
    templates.env.filters["hhmm"] = lambda at: f"{at.astimezone(zone):%H:%M}"
    templates.env.filters["daytime"] = lambda at: f"{at.astimezone(zone):%a %d %b %H:%M}"
    templates.env.filters["ago"] = lambda at: ago((clock() - at).total_seconds())
    return templates


async def _to_login(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)


async def _wrong_role(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WrongRoleError)
    message = f"This page is for a {exc.needed} only. Ask a {exc.needed} if you need it."
    return await pages.render(request, "message.html", 403, message=message, back="/")


async def _refused(request: Request, exc: Exception) -> Response:
    """The API answers JSON; a page a short page saying what went wrong."""
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)
    return await pages.render(
        request, "message.html", exc.status_code, message=str(exc.detail), back="/"
    )


@dataclass(frozen=True, slots=True)
class RunningConsole:
    """A console being served: its parts and where it listens."""

    context: ConsoleContext
    port: int | None


@contextlib.asynccontextmanager
async def serve_console(
    db: asyncpg.Pool,
    settings: ConsoleSettings,
    *,
    actions: Actions,
    clock: Callable[[], datetime] = utc_now,
    relay: CallRelay | None = None,
) -> AsyncIterator[RunningConsole]:
    """Serve the console on `settings.host:port` while the block runs.

    Args:
        db: The centre's database pool.
        settings: The `[console]` settings.
        actions: How accept/resolve are carried out (the centre's, which also tell the hub).
        clock: Now (tests pass a fixed one).
        relay: Passes key presses on homes' alert calls to their hubs (with `public_url`).

    Yields:
        The console's parts and the port it listens on (useful with port 0; None if disabled).

    Raises:
        OSError: the port cannot be bound.
        ssl.SSLError: the certificate or key cannot be read.
    """
    ctx = console_context(db, settings, actions, clock, relay)
    if not settings.enabled:
        yield RunningConsole(ctx, None)
        return
    server = server_for(build_app(ctx), settings.certfile, settings.keyfile)
    sock = socket.create_server((settings.host, settings.port), reuse_port=False)
    port: int = sock.getsockname()[1]
    async with ctx.feed:
        task = asyncio.create_task(server.serve([sock]), name="console")
        scheme = "https" if settings.certfile else "http"
        log.info("console on %s://%s:%d/", scheme, settings.host, port)
        try:
            yield RunningConsole(ctx, port)
        finally:
            ctx.feed.close()  # live pages end their streams, so connections can close
            server.should_exit = True
            try:
                async with asyncio.timeout(STOP_S + 1):
                    await asyncio.shield(task)
            except TimeoutError:
                log.warning("console did not stop in time; closing it")
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            sock.close()
