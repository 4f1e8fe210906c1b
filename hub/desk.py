"""The hub's answers to carers: acknowledgements, `STATUS`, `HOME`/`AWAY`.

This is the one place an acknowledgement lands, whichever way it came (ntfy button, SMS reply,
and later the CLI and the dashboard). It records it in the incident's audit trail, publishes it
on `telecare/v1/hub/incident/<id>/ack`, sends a "reassure" command to the device that raised the
alarm (its light says help is coming), and tells the other contacts who is dealing with it.
Stopping the escalation ladder belongs to the rules engine: this branch's engine has no
acknowledgement input, so `acknowledge` is where that call goes once it has one.
"""

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict

from hub.store import Store
from hub.wire import PREFIX, CommandPayload, command_topic, incident_topic
from notifier.acks import Acknowledgement
from notifier.failover import NOTICE_SUFFIX
from rules.incidents import Notify

log = logging.getLogger("telecare.hub.desk")
OCCUPANCY_TOPIC = f"{PREFIX}/hub/occupancy"

Publish = Callable[[str, bytes, bool], None]
Tell = Callable[[Sequence[Notify]], Awaitable[None]]


class OccupancyPayload(BaseModel):
    """Retained on `telecare/v1/hub/occupancy`: whether a carer says someone is with the person."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: bool
    by: str
    at: AwareDatetime


class HubDesk:
    """Carries out what carers' answers ask for."""

    def __init__(
        self,
        store: Store,
        publish: Publish,
        tell: Tell,
        *,
        zone: ZoneInfo,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._publish = publish
        self._tell = tell
        self._zone = zone
        self._clock = clock

    async def acknowledge(self, ack: Acknowledgement) -> None:
        """Record who is dealing with an incident, reassure the person, tell the others."""
        recorded = await self._store.record_acknowledgement(
            ack.incident_id, by=ack.contact, channel=ack.channel, at=ack.at
        )
        if not recorded:
            log.warning("acknowledgement for unknown incident %s ignored", ack.incident_id)
            return
        log.info("incident %s acknowledged by %s via %s", ack.incident_id, ack.contact, ack.channel)
        topic = f"{incident_topic(ack.incident_id)}/ack"
        self._publish(topic, ack.model_dump_json().encode(), False)
        incident = next(i for i in await self._store.incidents() if i.id == ack.incident_id)
        reassure = CommandPayload(command="reassure", incident_id=incident.id)
        self._publish(command_topic(incident.device_id), reassure.model_dump_json().encode(), False)
        await self._tell(await self._others_told(ack, incident.text))

    async def _others_told(self, ack: Acknowledgement, text: str) -> list[Notify]:
        """One note to each other contact, on each channel that reached them for the incident."""
        told = {
            (e.contact, e.channel)
            for e in await self._store.notifications(states=("sent", "delivered"))
            if e.incident_id == ack.incident_id
            and e.contact != ack.contact
            and not e.key.endswith(NOTICE_SUFFIX)
        }
        return [
            Notify(
                key=f"{ack.incident_id}/ack-by-{ack.contact}/{contact}/{channel}",
                incident_id=ack.incident_id,
                severity="info",
                contact=contact,
                channel=channel,
                text=f"{ack.contact} is dealing with it: {text}",
                at=ack.at,
            )
            for contact, channel in sorted(told)
        ]

    async def incident_to_ack(self, contact: str, number: int | None) -> str | None:
        """The newest open incident, or the open one numbered `number` (`ACK 12`)."""
        open_now = await self._store.incidents(open_only=True)
        if number is not None:
            open_now = [i for i in open_now if i.id.rsplit("-", 1)[-1] == str(number)]
        return open_now[-1].id if open_now else None

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
        """Publish (retained) whether someone is with the person, as a carer said."""
        payload = OccupancyPayload(home=home, by=contact, at=self._clock())
        log.info("%s says someone is %s", contact, "home" if home else "away")
        self._publish(OCCUPANCY_TOPIC, payload.model_dump_json().encode(), True)
