"""The hub's answers to carers replying from their phones: acknowledgements, STATUS, HOME/AWAY.

An acknowledgement (ntfy button, SMS reply) goes to the hub's event path like one from the
dashboard or `telecare ack`: the engine stops the ladder and tells the others who is dealing
with it, and the hub reassures the person at home. The desk then publishes it on
`telecare/v1/hub/incident/<id>/ack`. `HOME`/`AWAY` set the engine's occupancy. A carer no
phone path reached (every channel failed, only the outbox took the alarm) goes the same way:
the engine takes the ladder's next step at once.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from hub.store.store import Store
from notifier.acks import Acknowledgement
from notifier.failover import step_key
from notifier.model import OutboxEntry
from notifier.replies import Standing
from wire.schema import incident_topic

log = logging.getLogger("telecare.hub.desk")

Publish = Callable[[str, bytes, bool], None]


class CarerControl(Protocol):
    """What a carer's reply (or her phones' silence) may change, on the hub's event path."""

    async def acknowledge(self, incident_id: str, by: str, via: str = ...) -> bool:
        """`by` is dealing with the incident; False if it is not open or already handled."""
        ...

    async def unreached(self, incident_id: str, contact: str, *, key: str) -> bool:
        """No path of the step `key` reached `contact`; True if the ladder's next step went."""
        ...

    async def set_occupancy(self, *, home: bool, by: str) -> None:
        """Someone besides the cared-for person is at home (or nobody is any more)."""
        ...


class HubDesk:
    """Carries out what carers' answers ask for."""

    def __init__(
        self,
        store: Store,
        publish: Publish,
        *,
        zone: ZoneInfo,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._publish = publish
        self._zone = zone
        self._clock = clock
        self._control: CarerControl | None = None
        self._bound = asyncio.Event()

    def bind(self, control: CarerControl) -> None:
        """The running pipeline, once it exists: replies wait for it."""
        self._control = control
        self._bound.set()

    async def acknowledge(self, ack: Acknowledgement) -> bool:
        """Hand the acknowledgement to the engine; publish it if it took.

        Returns:
            False if the incident was not open or was already acknowledged.
        """
        await self._bound.wait()
        assert self._control is not None
        taken = await self._control.acknowledge(ack.incident_id, ack.contact, f"via {ack.channel}")
        if not taken:
            log.info(
                "acknowledgement of %s by %s: not open, or handled", ack.incident_id, ack.contact
            )
            return False
        topic = f"{incident_topic(ack.incident_id)}/ack"
        self._publish(topic, ack.model_dump_json().encode(), False)
        return True

    async def unreached(self, entry: OutboxEntry) -> bool:
        """The alarm `entry` failed on every phone path of its contact: the ladder moves on.

        Returns:
            False if nothing moved (the incident no longer fires, or a later step went already).
        """
        await self._bound.wait()
        assert self._control is not None
        key = step_key(entry)
        moved = await self._control.unreached(entry.incident_id, entry.contact, key=key)
        if not moved:
            log.info("%s could not be reached for %s: no step to bring forward", entry.contact, key)
        return moved

    async def incident_to_ack(self, contact: str, number: int | None) -> str | None:
        """The newest open incident, or the open one numbered `number` (`ACK 12`)."""
        open_now = await self._store.incidents(open_only=True)
        if number is not None:
            open_now = [i for i in open_now if i.id.rsplit("-", 1)[-1] == str(number)]
        return open_now[-1].id if open_now else None

    async def standing(self, incident_id: str) -> Standing:
        """Where an incident stands: who acknowledged it and when (home's clock), or its end."""
        incident = await self._store.incident(incident_id)
        if incident is None:
            return Standing(None)
        if incident.state != "acknowledged":
            return Standing(incident.state)
        trail = await self._store.incident_log(incident_id)
        acknowledged = [e for e in trail if e["state"] == "acknowledged"]
        since = datetime.fromisoformat(acknowledged[-1]["at"]) if acknowledged else None
        return Standing(
            incident.state,
            by=incident.acknowledged_by,
            since=since.astimezone(self._zone) if since is not None else None,
        )

    async def status_text(self) -> str:
        """Says "All OK" or names the open alarms, then the last thing a sensor reported."""
        open_now = await self._store.incidents(open_only=True)
        head = (
            "All OK: no open alarms."
            if not open_now
            else f"{len(open_now)} open alarm(s): " + "; ".join(i.text for i in open_now[-3:])
        )
        events = await self._store.events(limit=1)
        if not events:
            return f"{head} No sensor has reported yet."
        last = events[0]
        devices = {d.id: d for d in await self._store.devices()}
        device = devices.get(last.event.device_id)
        where = last.event.device_id if device is None else (device.room or device.name)
        when = last.event.received_at.astimezone(self._zone)
        return f"{head} Last activity {when:%H:%M} {where} ({last.event.type})."

    async def note_occupancy(self, contact: str, *, home: bool) -> None:
        """A carer says someone is with the person (`HOME`) or not (`AWAY`)."""
        await self._bound.wait()
        assert self._control is not None
        log.info("%s says someone is %s", contact, "home" if home else "away")
        await self._control.set_occupancy(home=home, by=contact)
