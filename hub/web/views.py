"""Reading the hub's state into the API's models (shared by the JSON API and the pages)."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import time as clock_time
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from hub.store.records import IncidentNote, Presence
from hub.web.context import WebContext
from hub.web.models import (
    Activity,
    DeviceView,
    IncidentDetail,
    IncidentSummary,
    NewNote,
    NotificationView,
    PresenceChange,
    SilenceView,
    StatusView,
    timeline,
    verdict,
)
from rules.doses_today import DoseToday
from rules.engine import RESOLVED_BY
from rules.incidents import OPEN_STATES
from rules.medication import CAUSE_PREFIX
from rules.schedule import at_local
from wire.schema import is_device_id

MAX_LISTED_INCIDENTS = 200
PROBE_EVERY_S = 1.0
T = TypeVar("T")


class Recent(Generic[T]):
    """The latest answer of a store query, asked again at most once every `PROBE_EVERY_S`.

    `/healthz` and `/metrics` need no login; without this, a flood of them would queue in the
    store in front of the alarm path's commits.
    """

    def __init__(
        self, query: Callable[[], Awaitable[T]], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._query = query
        self._clock = clock
        self._last: tuple[float, T] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> T:
        """The latest answer, refreshed if older than `PROBE_EVERY_S`."""
        async with self._lock:
            now = self._clock()
            if self._last is None or now - self._last[0] >= PROBE_EVERY_S:
                self._last = (now, await self._query())
            return self._last[1]


async def status_view(ctx: WebContext) -> StatusView:
    """The verdict, open incidents, last activity and devices that need looking at."""
    store = ctx.store
    open_incidents = await store.incidents(open_only=True)
    reasons: dict[str, str] = {}
    for incident in open_incidents:
        log = await store.incident_log(incident.id)
        if log:
            reasons[incident.id] = str(log[-1]["reason"])
    devices = {d.id: d for d in await store.devices()}
    latest = await store.events(limit=1)
    activity = None
    if latest:
        event = latest[0].event
        device = devices.get(event.device_id)
        activity = Activity(
            at=event.received_at,
            device=device.name if device else event.device_id,
            room=device.room if device else None,
            type=event.type,
        )
    views = [DeviceView.of(d) for d in devices.values()]
    return StatusView(
        doses=tuple(await _doses_today(ctx)),
        verdict=verdict(open_incidents, reasons, ctx.labels, ZoneInfo(ctx.timezone)),
        open_incidents=tuple(IncidentSummary.of(i) for i in open_incidents),
        last_activity=activity,
        devices_needing_attention=sum(1 for v in views if v.offline or v.low_battery),
        at_home=tuple(p.name for p in await store.occupancy() if p.state == "home"),
        broker_connected=ctx.broker_connected(),
        as_of=ctx.clock(),
    )


async def _doses_today(ctx: WebContext) -> list[DoseToday]:
    """Each dose due today: taken at HH:MM, late, missed, or due at HH:MM."""
    zone, now = ZoneInfo(ctx.timezone), ctx.clock()
    midnight = at_local(now.astimezone(zone).date(), clock_time(0, 0), zone)
    incidents = await ctx.store.incidents_opened_since(midnight, CAUSE_PREFIX)
    by_hand: set[str] = set()
    for incident in incidents:
        trail = await ctx.store.incident_log(incident.id) if incident.state == "resolved" else []
        if trail and str(trail[-1]["reason"]).startswith(RESOLVED_BY):
            by_hand.add(incident.id)
    return ctx.control.engine.doses_today(incidents, now=now, resolved_by_hand=by_hand)


async def incident_list(ctx: WebContext) -> list[IncidentSummary]:
    """Incidents, newest first."""
    found = await ctx.store.incidents()
    return [IncidentSummary.of(i) for i in reversed(found[-MAX_LISTED_INCIDENTS:])]


async def incident_detail(ctx: WebContext, incident_id: str) -> IncidentDetail | None:
    """One incident with its timeline and notifications, or None if there is no such one."""
    incident = await ctx.store.incident(incident_id)
    if incident is None:
        return None
    notes = await ctx.store.notifications(incident_id=incident_id)
    return IncidentDetail(
        incident=IncidentSummary.of(incident),
        timeline=timeline(await ctx.store.incident_log(incident_id)),
        notifications=tuple(NotificationView.of(n) for n in notes),
        notes=tuple(await ctx.store.notes(incident_id)),
        can_acknowledge=incident.state == "firing",
        can_resolve=incident.state in OPEN_STATES,
    )


async def set_presence(ctx: WebContext, name: str, change: PresenceChange) -> list[Presence]:
    """Record where `name` says they are and tell the engine; returns everyone's latest.

    While anyone is home the door and wellbeing rules stand down (never pendant, fall or smoke).
    """
    await ctx.store.set_presence(Presence(name=name, state=change.state, at=ctx.clock()))
    everyone = await ctx.store.occupancy()
    at_home = [p.name for p in everyone if p.state == "home"]
    await ctx.control.set_occupancy(home=bool(at_home), by=at_home[0] if at_home else name)
    return everyone


async def add_note(ctx: WebContext, incident_id: str, author: str, note: NewNote) -> bool:
    """Attach a note to an incident; False if there is no such incident."""
    if await ctx.store.incident(incident_id) is None:
        return False
    await ctx.store.add_note(
        IncidentNote(incident_id=incident_id, author=author, text=note.text, at=ctx.clock())
    )
    return True


async def device_list(ctx: WebContext) -> list[DeviceView]:
    """Every registered device with its warning flags, and whether it is silenced."""
    silences = {s.device_id: s for s in silence_list(ctx)}
    engine = ctx.control.engine
    return [
        DeviceView.of(d, can_silence=engine.silenceable(d.id), silence=silences.get(d.id))
        for d in await ctx.store.devices()
    ]


def silence_list(ctx: WebContext) -> list[SilenceView]:
    """The devices silenced now, as the engine holds them (an expired silence is gone)."""
    now = ctx.clock()
    return [
        SilenceView(device_id=device_id, until=s.until, by=s.by)
        for device_id, s in sorted(ctx.control.state.silenced.items())
        if s.until > now
    ]


async def identify_device(ctx: WebContext, device_id: str) -> str | None:
    """Ask a device to show itself (blink or beep).

    Returns:
        None once asked, or why the device cannot be asked (wired to the hub, or its model
        exposes nothing to identify with).

    Raises:
        LookupError: there is no such device.
    """
    device = next((d for d in await ctx.store.devices() if d.id == device_id), None)
    if device is None or not is_device_id(device_id):
        raise LookupError(device_id)
    return ctx.identify(device_id)
