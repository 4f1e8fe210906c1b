"""Telling a home's family that its hub went silent, and that it is back.

Through the notifier's own channels: a push to the contact's ntfy topic if she has one, else an
SMS through Twilio. The endpoints come from the centre's `[notify]` settings, so tests point
them at local stand-ins.
"""

import logging
from collections.abc import Sequence
from datetime import datetime

from centre.db.models import AlarmRow, ContactRow
from notifier.channels.ntfy import NtfyChannel
from notifier.channels.twilio import TwilioChannel, TwilioGateway
from notifier.model import Delivery, OutboxEntry, TransientError
from notifier.settings import NtfySettings, TwilioSettings
from rules.policy import Channel, Contact

log = logging.getLogger("telecare.centre.family")


def silent_text(home_name: str, since: datetime | None) -> str:
    """What the family is told when the hub goes silent."""
    when = f" since {since:%H:%M} UTC" if since else ""
    return (
        f"{home_name}: the telecare hub has not been heard from{when}. Alarms from the home may "
        "not get through. The monitoring centre is looking into it."
    )


def back_text(home_name: str) -> str:
    """What the family is told when the hub is heard again."""
    return f"{home_name}: the telecare hub is back in touch; alarms get through again."


class FamilyMessenger:
    """Sends one message to each of a home's contacts, by push or else by SMS."""

    def __init__(self, ntfy: NtfySettings | None, twilio: TwilioSettings | None) -> None:
        self._ntfy = ntfy
        self._twilio = None if twilio is None else TwilioGateway(twilio)

    async def close(self) -> None:
        """Close the HTTP sessions."""
        if self._twilio is not None:
            await self._twilio.close()

    async def tell(
        self, alarm: AlarmRow, contacts: Sequence[ContactRow], text: str, *, now: datetime
    ) -> list[Delivery]:
        """Send `text` to every contact; one delivery outcome per contact."""
        known = {
            c.name: Contact(name=c.name, phone=c.phone, ntfy_topic=c.ntfy_topic) for c in contacts
        }
        outcomes: list[Delivery] = []
        for contact in known.values():
            channel: Channel = "ntfy" if contact.ntfy_topic and self._ntfy else "sms"
            entry = OutboxEntry(
                id=alarm.id,
                key=f"alarm-{alarm.id}:{contact.name}:{text[:20]}",
                incident_id=f"hub-silent-{alarm.id}",
                severity="urgent",
                contact=contact.name,
                channel=channel,
                text=text,
                state="pending",
                created_at=now,
                updated_at=now,
            )
            outcomes.append(await self._send(entry, known))
        return outcomes

    async def _send(self, entry: OutboxEntry, contacts: dict[str, Contact]) -> Delivery:
        try:
            if entry.channel == "ntfy" and self._ntfy is not None:
                ntfy = NtfyChannel(self._ntfy, contacts)
                try:
                    return await ntfy.send(entry)
                finally:
                    await ntfy.close()
            if self._twilio is not None:
                return await TwilioChannel("sms", self._twilio, contacts).send(entry)
        except TransientError as err:
            log.warning("could not tell %s: %s", entry.contact, err)
            return Delivery("failed", str(err))
        return Delivery("failed", f"no channel configured to reach {entry.contact}")
