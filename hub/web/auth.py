"""Who is asking: sessions, login attempts, CSRF and roles.

Sessions live in memory (a restart of the hub logs everyone out) behind an HTTP-only,
SameSite=Strict cookie. Every state change carries the session's CSRF token: in the
`X-CSRF-Token` header for the API, in a `csrf` form field for pages.
"""

import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request, status

from hub.config.sections import WebRole
from webguard.logins import same_token

SESSION_COOKIE = "telecare_session"
LOGIN_CSRF_COOKIE = "telecare_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
MAX_FAILURES_PER_CLIENT = 5
MAX_FAILURES_OVERALL = 20
MAX_SESSIONS = 64


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in person.

    `contact` is the contact the session speaks for when it was opened by that contact's own
    login link; None for a passcode login (whoever the installer gave the passcode to).
    """

    token: str
    name: str
    role: WebRole
    csrf: str
    expires_at: float
    contact: str | None = None


class Sessions:
    """Open sessions by token, each expiring by itself."""

    def __init__(self, lifetime_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._lifetime_s = lifetime_s
        self._clock = clock
        self._open: dict[str, Session] = {}

    def start(self, name: str, role: WebRole, *, contact: str | None = None) -> Session:
        """Open a session for someone; the oldest goes if too many are open."""
        if len(self._open) >= MAX_SESSIONS:
            oldest = min(self._open.values(), key=lambda s: s.expires_at)
            del self._open[oldest.token]
        session = Session(
            token=secrets.token_urlsafe(32),
            name=name,
            role=role,
            csrf=secrets.token_urlsafe(32),
            expires_at=self._clock() + self._lifetime_s,
            contact=contact,
        )
        self._open[session.token] = session
        return session

    def find(self, token: str | None) -> Session | None:
        """The live session for a cookie value, if any."""
        session = self._open.get(token or "")
        if session is None or session.expires_at <= self._clock():
            self._open.pop(token or "", None)
            return None
        return session

    def end(self, token: str) -> None:
        """Log out."""
        self._open.pop(token, None)


def client_of(request: Request) -> str:
    """The address a request came from (for rate limiting only; never logged)."""
    return request.client.host if request.client else "unknown"


def session_of(request: Request) -> Session | None:
    """The request's live session, if it has one."""
    sessions: Sessions = request.app.state.sessions
    return sessions.find(request.cookies.get(SESSION_COOKIE))


def api_session(request: Request) -> Session:
    """Dependency: a logged-in caller, or 401."""
    session = session_of(request)
    if session is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in first")
    return session


async def check_csrf(request: Request, session: Session) -> None:
    """Refuse a state change whose CSRF token is missing or wrong (403)."""
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        form = await request.form()
        value = form.get("csrf")
        given = value if isinstance(value, str) else None
    if given is None or not same_token(given, session.csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")


def changing(
    *roles: WebRole, find: Callable[[Request], Session] = api_session
) -> Callable[[Request], Coroutine[Any, Any, Session]]:
    """Dependency for a state change: a session with one of `roles`, and its CSRF token."""

    async def dependency(request: Request) -> Session:
        session = find(request)
        await check_csrf(request, session)
        if session.role not in roles:
            allowed = " or ".join(roles)
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"only a {allowed} may do this")
        return session

    return dependency
