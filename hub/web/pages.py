"""Server-rendered pages: login, status and incident (both live), incidents, devices, report."""

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.config.sections import WebRole
from hub.review.report import gather, render_review
from hub.web.api import Ctx, IncidentId
from hub.web.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Session,
    Sessions,
    changing,
    check_csrf,
    client_of,
    session_of,
)
from hub.web.context import WebContext
from hub.web.models import NewNote, PresenceChange
from hub.web.passcodes import match_login
from hub.web.views import (
    add_note,
    device_list,
    identify_device,
    incident_detail,
    incident_list,
    set_presence,
    status_view,
)
from webguard.logins import LoginLimiter, same_token
from wire.control import MAX_NOTE_CHARS

log = logging.getLogger("telecare.web")
T = TypeVar("T")
router = APIRouter(include_in_schema=False)
MAX_REPORT_DAYS = 366


class LoginRequiredError(Exception):
    """A page was asked for without a live session: the app redirects to the login page."""


def page_session(request: Request) -> Session:
    """Dependency: a logged-in person, or off to the login page."""
    session = session_of(request)
    if session is None:
        raise LoginRequiredError
    return session


Person = Annotated[Session, Depends(page_session)]


def render(request: Request, name: str, code: int = 200, **values: Any) -> HTMLResponse:
    """A template with the session (if any) in its context."""
    context = {"session": session_of(request), **values}
    response: HTMLResponse = request.app.state.templates.TemplateResponse(
        request, name, context, status_code=code
    )
    return response


@router.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    """The passcode form; sets the cookie its CSRF token is checked against."""
    return _login_form(request, None, status.HTTP_200_OK)


@router.post("/login")
async def login(
    request: Request,
    ctx: Ctx,
    passcode: Annotated[str, Form(max_length=200)],
    csrf: Annotated[str, Form(max_length=200)],
) -> Response:
    """Check a passcode (rate-limited); on success open a session and go to the status page."""
    check_login_csrf(request, csrf)
    try:
        login = await limited_try(
            request, lambda: asyncio.to_thread(match_login, ctx.settings.logins, passcode)
        )
    except TooManyTriesError:
        log.warning("login refused: too many wrong passcodes; try again later")
        return _login_form(request, "Too many tries. Wait a few minutes.", 429)
    if login is None:
        log.info("wrong passcode at the dashboard login")
        return _login_form(request, "That passcode is not right.", 401)
    return start_session(request, ctx, login.name, login.role)


class TooManyTriesError(Exception):
    """Too many wrong tries from this client (or overall) lately: wait."""


async def limited_try(request: Request, attempt: Callable[[], Awaitable[T | None]]) -> T | None:
    """One login check (passcode or link), counted as a failure if it finds nobody.

    Raises:
        TooManyTriesError: the limit of failures is reached; nothing was checked.
    """
    limiter: LoginLimiter = request.app.state.limiter
    client = client_of(request)
    # One check at a time: argon2 takes 19 MiB per check, and a flood of parallel attempts
    # must neither exhaust a Pi's memory nor slip past the limit before any failure counts.
    async with request.app.state.login_gate:
        if not limiter.allows(client):
            raise TooManyTriesError
        found = await attempt()
        if found is None:
            limiter.failed(client)
    return found


def start_session(
    request: Request, ctx: WebContext, name: str, role: WebRole, *, contact: str | None = None
) -> Response:
    """Log someone in (a contact by their own link): a session cookie, off to the status page."""
    sessions: Sessions = request.app.state.sessions
    session = sessions.start(name, role, contact=contact)
    response = RedirectResponse("/", status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=int(ctx.settings.session_hours * 3600),
        httponly=True,
        samesite="strict",
        secure=ctx.settings.cookies_secure,
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


def check_login_csrf(request: Request, csrf: str) -> None:
    """Refuse a login form without the token its page set in a cookie (403)."""
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not same_token(csrf, expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")


def _login_form(request: Request, error: str | None, code: int) -> HTMLResponse:
    return login_form(request, "login.html", code, error=error)


def login_form(request: Request, name: str, code: int, **values: Any) -> HTMLResponse:
    """A login page, with the cookie its form's CSRF token is checked against."""
    token = secrets.token_urlsafe(32)
    response = render(request, name, code, login_csrf=token, **values)
    secure: bool = request.app.state.context.settings.cookies_secure
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=3600, httponly=True, samesite="strict", secure=secure
    )
    return response


@router.post("/logout")
async def logout(request: Request, person: Person) -> Response:
    """End the session."""
    await check_csrf(request, person)
    sessions: Sessions = request.app.state.sessions
    sessions.end(person.token)
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/")
async def status_page(request: Request, ctx: Ctx, _: Person) -> HTMLResponse:
    """The one big verdict, kept live."""
    return render(request, "status.html", status=await status_view(ctx))


@router.get("/partials/status")
async def status_fragment(request: Request, ctx: Ctx, _: Person) -> HTMLResponse:
    """The status page's live part, re-read on every incident change."""
    return render(request, "_status.html", status=await status_view(ctx))


@router.get("/incidents")
async def incidents_page(request: Request, ctx: Ctx, _: Person) -> HTMLResponse:
    """Every incident, newest first."""
    return render(request, "incidents.html", incidents=await incident_list(ctx))


@router.get("/incidents/{incident_id}")
async def incident_page(
    request: Request, ctx: Ctx, _: Person, incident_id: IncidentId
) -> HTMLResponse:
    """Timeline, who was told, and the acknowledge button."""
    detail = await incident_detail(ctx, incident_id)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    return render(request, "incident.html", detail=detail)


@router.get("/partials/incidents/{incident_id}")
async def incident_fragment(
    request: Request, ctx: Ctx, _: Person, incident_id: IncidentId
) -> HTMLResponse:
    """The incident page's live part: state, acknowledge button, timeline, who was told."""
    detail = await incident_detail(ctx, incident_id)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    return render(request, "_incident.html", detail=detail)


@router.post("/incidents/{incident_id}/ack")
async def acknowledge_from_page(
    ctx: Ctx,
    carer: Annotated[Session, Depends(changing("carer", find=page_session))],
    incident_id: IncidentId,
) -> Response:
    """The "I'm on it" button: acknowledge, then show the incident again."""
    if await ctx.control.acknowledge(incident_id, carer.name):
        log.info("incident %s acknowledged on the dashboard", incident_id)
    return RedirectResponse(f"/incidents/{incident_id}", status.HTTP_303_SEE_OTHER)


@router.post("/incidents/{incident_id}/resolve")
async def resolve_from_page(
    ctx: Ctx,
    carer: Annotated[Session, Depends(changing("carer", find=page_session))],
    incident_id: IncidentId,
    note: Annotated[str, Form(max_length=MAX_NOTE_CHARS)] = "",
) -> Response:
    """The "Resolve" button, with its optional note: close the incident, then show it again."""
    if await ctx.control.resolve(incident_id, carer.name, note=note.strip() or None):
        log.info("incident %s resolved on the dashboard", incident_id)
    return RedirectResponse(f"/incidents/{incident_id}", status.HTTP_303_SEE_OTHER)


@router.get("/report")
async def review_page(
    ctx: Ctx, _: Person, days: Annotated[int, Query(ge=1, le=MAX_REPORT_DAYS)] = 7
) -> HTMLResponse:
    """The review report, the same page `telecare report` writes, for the last `days` days."""
    until = ctx.clock()
    data = await gather(ctx.store, since=until - timedelta(days=days), until=until)
    html = render_review(data, person=ctx.person, labels=ctx.labels, zone=ctx.timezone)
    # The report is self-contained: its styles are inline and it loads nothing.
    policy = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    return HTMLResponse(html, headers={"Content-Security-Policy": policy})


@router.post("/occupancy")
async def occupancy_from_page(
    ctx: Ctx,
    carer: Annotated[Session, Depends(changing("carer", find=page_session))],
    state: Annotated[Literal["home", "away"], Form()],
) -> Response:
    """The "I'm home" / "I'm away" buttons."""
    await set_presence(ctx, carer.name, PresenceChange(state=state))
    return RedirectResponse("/", status.HTTP_303_SEE_OTHER)


@router.post("/incidents/{incident_id}/notes")
async def note_from_page(
    ctx: Ctx,
    carer: Annotated[Session, Depends(changing("carer", find=page_session))],
    incident_id: IncidentId,
    text: Annotated[str, Form(min_length=1, max_length=MAX_NOTE_CHARS)],
) -> Response:
    """The incident page's note form."""
    if not await add_note(ctx, incident_id, carer.name, NewNote(text=text)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    return RedirectResponse(f"/incidents/{incident_id}", status.HTTP_303_SEE_OTHER)


@router.get("/devices")
async def devices_page(
    request: Request, ctx: Ctx, _: Person, tested: str | None = None
) -> HTMLResponse:
    """Devices with battery, last seen and warnings; installers can test them."""
    devices = await device_list(ctx)
    shown = next((d.name for d in devices if d.id == tested), None)  # only a real device's name
    return render(request, "devices.html", devices=devices, tested=shown)


@router.post("/devices/{device_id}/identify")
async def identify_from_page(
    request: Request,
    ctx: Ctx,
    _: Annotated[Session, Depends(changing("installer", find=page_session))],
    device_id: str,
) -> Response:
    """The installer's "Test" button: the device blinks or beeps, or the page says why not."""
    try:
        refused = await identify_device(ctx, device_id)
    except LookupError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such device") from None
    if refused is not None:
        devices = await device_list(ctx)
        return render(
            request, "devices.html", status.HTTP_409_CONFLICT, devices=devices, refused=refused
        )
    return RedirectResponse(f"/devices?tested={device_id}", status.HTTP_303_SEE_OTHER)
