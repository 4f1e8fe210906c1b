"""Server-rendered pages: login, the live queue, homes, one home (live), audit, operators."""

import asyncio
import logging
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from centre.console import queries
from centre.console.access import (
    Ctx,
    FormChanger,
    PageSupervisor,
    Person,
    context_of,
    session_of,
)
from centre.console.actions import ActionKind
from centre.console.api import AlarmId, HomeId, take
from centre.console.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Session
from centre.console.models import MAX_NOTE_CHARS, Home
from centre.console.passwords import password_matches
from webguard.logins import same_token

log = logging.getLogger("telecare.centre.console")
router = APIRouter(include_in_schema=False)
# Where a form may send the operator back to: the queue or a home's page, nowhere else.
BACK_PATTERN = r"^/(homes/[A-Za-z0-9_-]{1,64})?$"
Note = Annotated[str, Form(max_length=MAX_NOTE_CHARS)]
Back = Annotated[str, Form(pattern=BACK_PATTERN)]


async def render(request: Request, name: str, code: int = 200, **values: Any) -> HTMLResponse:
    """A template with the session (if any) in its context."""
    context = {"session": await session_of(request), "status_code": code, **values}
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, context, status_code=code
    )
    return response


def client_of(request: Request) -> str:
    """The address a request came from (for rate limiting only; never logged)."""
    return request.client.host if request.client else "unknown"


@router.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    """The login form; sets the cookie its CSRF token is checked against."""
    return await _login_form(request, None, status.HTTP_200_OK)


@router.post("/login")
async def login(
    request: Request,
    ctx: Ctx,
    username: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=200)],
) -> Response:
    """Check a username and password (rate-limited); on success open a session, go to the queue."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not same_token(csrf, expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")
    client = client_of(request)
    # One check at a time: argon2 takes 19 MiB per check, and a flood of parallel attempts
    # must neither exhaust memory nor slip past the limit before any failure counts.
    async with request.app.state.login_gate:
        if not ctx.limiter.allows(client):
            log.warning("console login refused: too many wrong passwords; try again later")
            return await _login_form(request, "Too many tries. Wait a few minutes.", 429)
        found = await queries.credentials(ctx.db, username.strip())
        hashed = found[2] if found else None
        if not await asyncio.to_thread(password_matches, hashed, password):
            ctx.limiter.failed(client)
            log.info("wrong username or password at the console login")
            return await _login_form(request, "That username or password is not right.", 401)
    value, _ = ctx.signer.cookie(username.strip())
    response = RedirectResponse("/", status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=int(ctx.signer.lifetime_s),
        httponly=True,
        samesite="strict",
        secure=ctx.settings.certfile is not None,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


async def _login_form(request: Request, error: str | None, code: int) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = await render(request, "login.html", code, csrf=token, error=error)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict")
    return response


@router.post("/logout")
async def logout(_: FormChanger) -> Response:
    """End the session in this browser."""
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
async def queue_page(request: Request, ctx: Ctx, _: Person) -> HTMLResponse:
    """The live queue."""
    return await render(request, "queue.html", alarms=await queries.queue(ctx.db))


@router.get("/fragments/queue")
async def queue_fragment(request: Request, ctx: Ctx, _: Person) -> HTMLResponse:
    """The queue's table, re-read by the page on each change."""
    return await render(request, "_queue.html", alarms=await queries.queue(ctx.db))


@router.get("/homes")
async def homes_page(request: Request, ctx: Ctx, _: Person) -> HTMLResponse:
    """Every home and its hub's status."""
    return await render(request, "homes.html", homes=await queries.homes(ctx.db))


@router.get("/homes/{home_id}")
async def home_page(request: Request, ctx: Ctx, _: Person, home_id: HomeId) -> HTMLResponse:
    """One home, kept current."""
    return await render(request, "home.html", home=await _home(ctx, home_id))


@router.get("/fragments/homes/{home_id}")
async def home_fragment(request: Request, ctx: Ctx, _: Person, home_id: HomeId) -> HTMLResponse:
    """One home's details, re-read by its page on each change."""
    return await render(request, "_home.html", home=await _home(ctx, home_id))


async def _home(ctx: Ctx, home_id: str) -> Home:
    found = await queries.home(ctx.db, home_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such home")
    return found


@router.post("/alarms/{alarm_id}/accept")
async def accept_form(
    request: Request, session: FormChanger, alarm_id: AlarmId, back: Back, note: Note = ""
) -> Response:
    """Accept an alarm from its home's page (or the queue), then go back there."""
    return await _act(request, session, alarm_id, "accept", note=note.strip(), back=back)


@router.post("/alarms/{alarm_id}/resolve")
async def resolve_form(
    request: Request, session: FormChanger, alarm_id: AlarmId, back: Back, note: Note = ""
) -> Response:
    """Resolve an alarm with its required note, then go back."""
    if not note.strip():
        message = "A note is needed to resolve an alarm: say what happened and what was done."
        return await render(request, "message.html", 422, message=message, back=back)
    return await _act(request, session, alarm_id, "resolve", note=note.strip(), back=back)


async def _act(
    request: Request, session: Session, alarm_id: int, action: ActionKind, *, note: str, back: str
) -> Response:
    try:
        await take(context_of(request), session, alarm_id, action, note)
    except HTTPException as err:
        return await render(request, "message.html", err.status_code, message=err.detail, back=back)
    return RedirectResponse(back, status.HTTP_303_SEE_OTHER)


@router.get("/audit")
async def audit_page(request: Request, ctx: Ctx, _: PageSupervisor) -> HTMLResponse:
    """Every operator action, newest first, and whether the hub applied it."""
    return await render(request, "audit.html", entries=await queries.audit(ctx.db))


@router.get("/fragments/audit")
async def audit_fragment(request: Request, ctx: Ctx, _: PageSupervisor) -> HTMLResponse:
    """The audit's table, re-read by the page on each change."""
    return await render(request, "_audit.html", entries=await queries.audit(ctx.db))


@router.get("/operators")
async def operators_page(request: Request, ctx: Ctx, _: PageSupervisor) -> HTMLResponse:
    """Operator accounts."""
    return await render(request, "operators.html", operators=await queries.operators(ctx.db))
