"""A real store with incidents and outbox entries, and the stand-ins wired as channels."""

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime

from hub.store.store import Batch, Store
from notifier.model import OutboxEntry
from rules.incidents import Incident, IncidentChanged, Notify
from rules.policy import Channel, Severity


async def add_alert(
    store: Store,
    incident_id: str,
    *,
    channel: Channel = "sms",
    severity: Severity = "emergency",
    contact: str = "Alice",
    text: str | None = None,
    step: str = "step0",
) -> OutboxEntry:
    """Open an incident and put one notification for it in the outbox."""
    now = datetime.now(UTC)
    words = text or f"Alarm {incident_id}: Mum pressed her pendant."
    incident = Incident(
        id=incident_id,
        cause="pendant",
        severity=severity,
        state="firing",
        device_id="pendant-1",
        opened_at=now,
        fired_at=now,
        text=words,
    )
    note = Notify(
        key=f"{incident_id}/{step}/{contact}/{channel}",
        incident_id=incident_id,
        severity=severity,
        contact=contact,
        channel=channel,
        text=words,
        at=now,
    )
    change = IncidentChanged(incident=incident, previous=None, reason="test", at=now)
    [entry] = await store.commit(Batch(actions=[change, note]), at=now)
    return entry


async def wait_for(condition: Callable[[], bool], *, within_s: float = 10.0) -> None:
    """Poll `condition` until it holds; fail the test if it does not within the deadline."""
    deadline = time.monotonic() + within_s
    while not condition():
        if time.monotonic() > deadline:
            msg = f"condition not met within {within_s} s"
            raise AssertionError(msg)
        await asyncio.sleep(0.005)
