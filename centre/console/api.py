"""The console's JSON API (`/api/...`, described by the OpenAPI schema): the pages' data."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.sse import EventSourceResponse, ServerSentEvent

from centre.console import queries
from centre.console.access import Caller, Changer, Ctx, Supervisor
from centre.console.actions import (
    ActionKind,
    AlarmClosedError,
    HubUnreachableError,
    NoSuchAlarmError,
)
from centre.console.auth import Session
from centre.console.context import ConsoleContext
from centre.console.models import (
    Acceptance,
    ActionDone,
    Alarm,
    AuditEntry,
    Home,
    HomeSummary,
    Operator,
    Resolution,
    SessionView,
)

router = APIRouter(prefix="/api")
HomeId = Annotated[str, Path(max_length=64)]
AlarmId = Annotated[int, Path(ge=1, le=2**62)]


@router.get("/session", tags=["session"])
async def session_view(session: Caller) -> SessionView:
    """Who is logged in, and the CSRF token every POST must carry in `X-CSRF-Token`."""
    return SessionView(
        username=session.username, name=session.name, role=session.role, csrf_token=session.csrf
    )


@router.get("/queue", tags=["queue"])
async def queue(ctx: Ctx, _: Caller) -> list[Alarm]:
    """Open and accepted alarms across homes: emergencies, silent hubs, urgent...; oldest first."""
    return list(await queries.queue(ctx.db))


@router.get("/homes", tags=["homes"])
async def homes(ctx: Ctx, _: Caller) -> list[HomeSummary]:
    """Every home with its hub's status; homes with alarms or a silent hub first."""
    return list(await queries.homes(ctx.db))


@router.get("/homes/{home_id}", tags=["homes"])
async def home(ctx: Ctx, _: Caller, home_id: HomeId) -> Home:
    """One home: status, devices needing attention, its alarms, recent incidents, contacts."""
    found = await queries.home(ctx.db, home_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such home")
    return found


async def take(
    ctx: ConsoleContext, session: Session, alarm_id: int, action: ActionKind, note: str
) -> ActionDone:
    """Carry out an action for `session`.

    404 if no such alarm, 409 if it cannot take it, 503 if the hub's downlink did not take it.
    """
    try:
        done = await ctx.actions.act(alarm_id, action, operator=session.username, note=note)
    except NoSuchAlarmError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alarm") from None
    except AlarmClosedError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    except HubUnreachableError as err:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(err)) from None
    ctx.feed.poke()
    return done


@router.post("/alarms/{alarm_id}/accept", tags=["queue"])
async def accept(ctx: Ctx, session: Changer, alarm_id: AlarmId, body: Acceptance) -> ActionDone:
    """Take an alarm: the home's hub stops calling the family and tells them who took it.

    409 if it is already accepted or resolved.
    """
    return await take(ctx, session, alarm_id, "accept", body.note)


@router.post("/alarms/{alarm_id}/resolve", tags=["queue"])
async def resolve(ctx: Ctx, session: Changer, alarm_id: AlarmId, body: Resolution) -> ActionDone:
    """Close an alarm with a note saying what happened. 409 if it is already resolved."""
    return await take(ctx, session, alarm_id, "resolve", body.note)


@router.get("/audit", tags=["supervision"])
async def audit(
    ctx: Ctx, _: Supervisor, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[AuditEntry]:
    """Operator actions, newest first, each with whether the home's hub applied it."""
    return list(await queries.audit(ctx.db, limit))


@router.get("/operators", tags=["supervision"])
async def operators(ctx: Ctx, _: Supervisor) -> list[Operator]:
    """Operator accounts, with how many actions each took."""
    return list(await queries.operators(ctx.db))


@router.get("/events", tags=["queue"], response_class=EventSourceResponse)
async def events(ctx: Ctx, _: Caller) -> AsyncIterator[ServerSentEvent]:
    """Live changes as server-sent events.

    `ready` once listening; `queue` when the queue changes; `home` (data: its id) when a home's
    page would; `audit` on a new action or a hub's report on one; `resync` after missed ones.
    """
    async with ctx.feed.listen() as changes:
        yield ServerSentEvent(event="ready", data={})
        async for change in changes:
            yield ServerSentEvent(event=change.topic, data={"home_id": change.home_id})
