"""The web app and its server, run inside the hub's process on the hub's event loop."""

import asyncio
import logging
import socket
import ssl
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Self
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from hub.web import api, carer_settings, hooks, link_pages, pages
from hub.web.auth import MAX_FAILURES_OVERALL, MAX_FAILURES_PER_CLIENT, Sessions
from hub.web.context import WebContext
from hub.web.gate import listening_socket
from hub.web.limits import RejectCounter, where
from hub.web.views import Recent
from webguard.limits import BodyLimit
from webguard.logins import LoginLimiter
from webguard.serving import STOP_S, ServiceServer, security_headers, server_for

log = logging.getLogger("telecare.web")
_HERE = Path(str(resources.files("hub.web")))


def build_app(ctx: WebContext) -> FastAPI:
    """The dashboard and API bound to one hub's parts."""
    app = FastAPI(
        title="Telecare hub",
        summary="The carer's dashboard and the hub's JSON API.",
        docs_url=None,  # the interactive docs load scripts from a CDN; the schema is enough
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.context = ctx
    app.state.sessions = Sessions(ctx.settings.session_hours * 3600)
    app.state.limiter = LoginLimiter(MAX_FAILURES_PER_CLIENT, MAX_FAILURES_OVERALL)
    app.state.login_gate = asyncio.Lock()
    app.state.writable = Recent(ctx.store.writable)
    app.state.tallies = Recent(ctx.store.tallies)
    app.state.templates = _templates(ZoneInfo(ctx.timezone))
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(carer_settings.router)
    app.include_router(carer_settings.pages)
    app.include_router(link_pages.router)
    if ctx.twilio_hooks is not None:
        app.include_router(hooks.router)
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")
    app.add_exception_handler(pages.LoginRequiredError, _to_login)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.middleware("http")(security_headers)
    app.add_middleware(BodyLimit)
    app.add_middleware(RejectCounter, reject=ctx.rejects.reject)  # outermost: sees every 4xx
    return app


def _templates(zone: ZoneInfo) -> Jinja2Templates:
    templates = Jinja2Templates(directory=_HERE / "templates")
    templates.env.filters["hhmm"] = lambda at: f"{at.astimezone(zone):%H:%M}"
    templates.env.filters["daytime"] = lambda at: f"{at.astimezone(zone):%a %d %b %H:%M}"
    templates.env.filters["hhmm_time"] = lambda moment: f"{moment:%H:%M}"
    return templates


async def _invalid(request: Request, exc: Exception) -> Response:
    """422 naming each field and problem, without echoing what was sent.

    The input may be any bytes (not text, not JSON) and may hold personal data: it is neither
    sent back nor logged.
    """
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": list(error.get("loc", ())), "msg": str(error.get("msg", "")), "type": error["type"]}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": problems}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def _to_login(request: Request, exc: Exception) -> Response:
    ctx: WebContext = request.app.state.context
    ctx.rejects.reject("http_login_required", where(request.scope), "no live session")
    return RedirectResponse("/login", status.HTTP_303_SEE_OTHER)


class WebServer:
    """Serves the dashboard while the block runs.

    A port that cannot be bound is logged, not fatal: the alarm path never depends on the
    dashboard.
    """

    def __init__(self, ctx: WebContext, sock: socket.socket | None = None) -> None:
        self._ctx = ctx
        self._sock = sock  # already bound and listening (the hub's gate), or bound here
        self._server: ServiceServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None

    async def __aenter__(self) -> Self:
        settings = self._ctx.settings
        if not settings.enabled:
            return self
        where = f"{settings.host}:{settings.port}"
        try:
            server = server_for(build_app(self._ctx), settings.certfile, settings.keyfile)
            sock = self._sock or listening_socket(settings.host, settings.port)
        except (OSError, ssl.SSLError) as err:
            log.error("dashboard not started on %s: %s", where, err.strerror or err)
            return self
        self.port = sock.getsockname()[1]
        self._server = server
        self._task = asyncio.create_task(self._server.serve([sock]), name="web")
        scheme = "https" if settings.certfile else "http"
        log.info("dashboard on %s://%s:%d/", scheme, settings.host, self.port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is None or self._task is None:
            return
        self._ctx.feed.close()  # live pages end their streams, so connections can close
        self._server.should_exit = True
        try:
            async with asyncio.timeout(STOP_S + 1):
                await asyncio.shield(self._task)
        except TimeoutError:
            log.warning("dashboard did not stop in time; closing it")
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
