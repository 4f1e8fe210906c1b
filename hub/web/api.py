"""The JSON API (`/api/...`, described by the OpenAPI schema), `/healthz` and `/metrics`."""

import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from fastapi.sse import EventSourceResponse, ServerSentEvent

from hub.pipeline.feed import Missed
from hub.store.records import Presence, StoreTallies
from hub.web.auth import Session, api_session, changing
from hub.web.context import WebContext
from hub.web.metrics import CONTENT_TYPE, render_metrics
from hub.web.models import (
    AckResult,
    DeviceView,
    Health,
    IncidentDetail,
    IncidentSummary,
    NewNote,
    PresenceChange,
    Resolution,
    ResolveResult,
    SessionView,
    StatusView,
)
from hub.web.views import (
    Recent,
    add_note,
    device_list,
    identify_device,
    incident_detail,
    incident_list,
    set_presence,
    status_view,
)
from rules.incidents import IncidentState

log = logging.getLogger("telecare.web")
router = APIRouter()
Caller = Annotated[Session, Depends(api_session)]
MAX_INCIDENT_ID_CHARS = 128  # as the control topics take them
IncidentId = Annotated[str, Path(min_length=1, max_length=MAX_INCIDENT_ID_CHARS)]
"""An incident id in a path: anything longer names no incident and is refused (422)."""


def context(request: Request) -> WebContext:
    """The hub's parts, as the app was built with them."""
    ctx: WebContext = request.app.state.context
    return ctx


Ctx = Annotated[WebContext, Depends(context)]


@router.get("/healthz", tags=["monitoring"])
async def healthz(ctx: Ctx, request: Request, response: Response) -> Health:
    """Whether the hub can do its job: broker reachable and store writable (503 if not)."""
    writable: Recent[bool] = request.app.state.writable
    health = Health(
        ok=False, broker_connected=ctx.broker_connected(), store_writable=await writable.get()
    )
    health = health.model_copy(update={"ok": health.broker_connected and health.store_writable})
    if not health.ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return health


@router.get("/metrics", tags=["monitoring"], response_class=Response)
async def metrics(ctx: Ctx, request: Request) -> Response:
    """Counters and gauges in the Prometheus text format."""
    tallies: Recent[StoreTallies] = request.app.state.tallies
    text = render_metrics(
        await tallies.get(),
        ctx.rejects.counts,
        ctx.inbox,
        broker_connected=ctx.broker_connected(),
        stages=ctx.stages,
    )
    return Response(text, media_type=CONTENT_TYPE)


@router.get("/api/session", tags=["session"])
async def get_session(caller: Caller) -> SessionView:
    """Who is logged in, and the token to send as `X-CSRF-Token` with every POST."""
    return SessionView(name=caller.name, role=caller.role, csrf_token=caller.csrf)


@router.get("/api/status", tags=["home"])
async def get_status(ctx: Ctx, _: Caller) -> StatusView:
    """The verdict ("All is well" or what needs help), open incidents, last activity."""
    return await status_view(ctx)


@router.get("/api/incidents", tags=["incidents"])
async def get_incidents(ctx: Ctx, _: Caller) -> list[IncidentSummary]:
    """Incidents, newest first."""
    return await incident_list(ctx)


@router.get("/api/incidents/{incident_id}", tags=["incidents"])
async def get_incident(ctx: Ctx, _: Caller, incident_id: IncidentId) -> IncidentDetail:
    """One incident: its timeline and the notifications sent for it."""
    detail = await incident_detail(ctx, incident_id)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    return detail


@router.post("/api/incidents/{incident_id}/ack", tags=["incidents"])
async def acknowledge(
    ctx: Ctx, caller: Annotated[Session, Depends(changing("carer"))], incident_id: IncidentId
) -> AckResult:
    """Say "I'm on it": escalation stops. 409 if the incident is not firing."""
    done = await ctx.control.acknowledge(incident_id, caller.name)
    state = await _changed(ctx, incident_id, done=done, how="acknowledged")
    return AckResult(incident_id=incident_id, acknowledged=True, state=state)


@router.post("/api/incidents/{incident_id}/resolve", tags=["incidents"])
async def resolve(
    ctx: Ctx,
    caller: Annotated[Session, Depends(changing("carer"))],
    incident_id: IncidentId,
    resolution: Resolution | None = None,
) -> ResolveResult:
    """Say it is over ("Mum pressed by mistake" as an optional note). 409 if it is not open."""
    note = resolution.note if resolution is not None else None
    done = await ctx.control.resolve(incident_id, caller.name, note=note)
    state = await _changed(ctx, incident_id, done=done, how="resolved")
    return ResolveResult(incident_id=incident_id, resolved=True, state=state)


async def _changed(ctx: WebContext, incident_id: str, *, done: bool, how: str) -> IncidentState:
    """The incident's state after a change; 404 if there is no such one, 409 if it did not."""
    incident = await ctx.store.incident(incident_id)
    if incident is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    if not done:
        raise HTTPException(status.HTTP_409_CONFLICT, f"the incident is {incident.state}")
    log.info("incident %s %s on the dashboard", incident_id, how)
    return incident.state


@router.get("/api/occupancy", tags=["home"])
async def get_occupancy(ctx: Ctx, _: Caller) -> list[Presence]:
    """Who of the household last said they are at home or away, and when."""
    return await ctx.store.occupancy()


@router.post("/api/occupancy", tags=["home"])
async def post_occupancy(
    ctx: Ctx, carer: Annotated[Session, Depends(changing("carer"))], change: PresenceChange
) -> list[Presence]:
    """The caller says "I'm home" or "I'm away"."""
    return await set_presence(ctx, carer.name, change)


@router.post(
    "/api/incidents/{incident_id}/notes",
    tags=["incidents"],
    status_code=status.HTTP_201_CREATED,
)
async def post_note(
    ctx: Ctx,
    carer: Annotated[Session, Depends(changing("carer"))],
    incident_id: IncidentId,
    note: NewNote,
) -> IncidentDetail:
    """Add a note ("Mum pressed by mistake"); returns the incident with its notes."""
    detail = None
    if await add_note(ctx, incident_id, carer.name, note):
        detail = await incident_detail(ctx, incident_id)
    if detail is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such incident")
    return detail


@router.get("/api/devices", tags=["devices"])
async def get_devices(ctx: Ctx, _: Caller) -> list[DeviceView]:
    """Every device: room, battery, last seen, offline and low-battery flags."""
    return await device_list(ctx)


@router.post(
    "/api/devices/{device_id}/identify",
    tags=["devices"],
    status_code=status.HTTP_202_ACCEPTED,
)
async def identify(
    ctx: Ctx, _: Annotated[Session, Depends(changing("installer"))], device_id: str
) -> None:
    """Installer's test: ask a device to show itself (blink or beep).

    A native device gets the command; a Zigbee2MQTT device the `/set` its model exposes
    (identify, or a light effect). 404 if there is no such device; 409 with the reason if it
    cannot be asked (wired to the hub, or its model exposes nothing to identify with).
    """
    try:
        refused = await identify_device(ctx, device_id)
    except LookupError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such device") from None
    if refused is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, refused)


@router.get("/api/events", tags=["home"], response_class=EventSourceResponse)
async def live(ctx: Ctx, _: Caller) -> AsyncIterator[ServerSentEvent]:
    """Live changes as server-sent events.

    `ready` once listening, `incident` on each change, `resync` after missed ones (re-read
    the status then).
    """
    async with ctx.feed.listen() as changes:
        yield ServerSentEvent(event="ready", data={})
        async for item in changes:
            if isinstance(item, Missed):
                yield ServerSentEvent(event="resync", data={})
            else:
                data = {"id": item.incident.id, "state": item.incident.state}
                yield ServerSentEvent(event="incident", data=data)
