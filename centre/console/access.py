"""Route dependencies for who may do what: sessions, CSRF checks and roles."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from centre.console import queries
from centre.console.auth import CSRF_HEADER, SESSION_COOKIE, Role, Session
from centre.console.context import ConsoleContext
from webguard.logins import same_token


class LoginRequiredError(Exception):
    """A page was asked for without a live session: the app redirects to the login page."""


class WrongRoleError(Exception):
    """A page needs a role the operator does not have: the app answers 403 with a page."""

    def __init__(self, needed: Role) -> None:
        super().__init__(needed)
        self.needed = needed


def context_of(request: Request) -> ConsoleContext:
    """Dependency: the console's parts."""
    ctx: ConsoleContext = request.app.state.context
    return ctx


Ctx = Annotated[ConsoleContext, Depends(context_of)]


async def session_of(request: Request) -> Session | None:
    """The request's live session, if its cookie is good and the operator still exists."""
    ctx = context_of(request)
    ticket = ctx.signer.read(request.cookies.get(SESSION_COOKIE))
    if ticket is None:
        return None
    found = await queries.credentials(ctx.db, ticket.username)
    if found is None:
        return None
    name, role, _ = found
    return Session(ticket.username, name, role, ctx.signer.csrf(ticket), ticket.expires_at)


async def api_session(request: Request) -> Session:
    """Dependency: a logged-in caller, or 401."""
    session = await session_of(request)
    if session is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in first")
    return session


async def page_session(request: Request) -> Session:
    """Dependency: a logged-in operator, or off to the login page."""
    session = await session_of(request)
    if session is None:
        raise LoginRequiredError
    return session


async def api_supervisor(session: Annotated[Session, Depends(api_session)]) -> Session:
    """Dependency: a logged-in supervisor, or 403."""
    if session.role != "supervisor":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a supervisor may see this")
    return session


async def page_supervisor(session: Annotated[Session, Depends(page_session)]) -> Session:
    """Dependency: a logged-in supervisor, or a 403 page saying so."""
    if session.role != "supervisor":
        raise WrongRoleError("supervisor")
    return session


async def check_csrf(request: Request, session: Session) -> None:
    """Refuse a state change whose CSRF token is missing or wrong (403)."""
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        value = (await request.form()).get("csrf")
        given = value if isinstance(value, str) else None
    if given is None or not same_token(given, session.csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")


async def api_changing(
    request: Request, session: Annotated[Session, Depends(api_session)]
) -> Session:
    """Dependency for an API state change: a session and its CSRF token."""
    await check_csrf(request, session)
    return session


async def page_changing(
    request: Request, session: Annotated[Session, Depends(page_session)]
) -> Session:
    """Dependency for a form's state change: a session and its CSRF token."""
    await check_csrf(request, session)
    return session


Caller = Annotated[Session, Depends(api_session)]
Supervisor = Annotated[Session, Depends(api_supervisor)]
Changer = Annotated[Session, Depends(api_changing)]
Person = Annotated[Session, Depends(page_session)]
PageSupervisor = Annotated[Session, Depends(page_supervisor)]
FormChanger = Annotated[Session, Depends(page_changing)]
