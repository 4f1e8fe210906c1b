"""SMS, WhatsApp and voice calls through Twilio: the three channels on one account's gateway.

Each channel sends an outbox entry, finds what an interrupted send left at Twilio, and follows
what it sent to its end: a message delivered or undelivered, a call answered or not (busy, no
answer, failed). An answered call is delivered, whoever or whatever answered: only the key
pressed on it is an acceptance. The gateway (`twilio_gateway`) makes the requests; `twiml`
words them. The names other parts use are re-exported here.
"""

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Literal

from notifier.channels.twilio_gateway import SentMessage, TwilioGateway
from notifier.channels.twiml import (
    ENTRY_PARAM,
    SMS_HOOK,
    STATUS_HOOK,
    VOICE_HOOK,
    call_verdict,
    hook_url,
    message_body,
    message_verdict,
    voice_twiml,
)
from notifier.model import Delivery, OutboxEntry
from rules.policy import Contact

__all__ = [
    "ENTRY_PARAM",
    "SMS_HOOK",
    "STATUS_HOOK",
    "VOICE_HOOK",
    "SentMessage",
    "TwilioChannel",
    "TwilioGateway",
    "TwilioKind",
]
FOUND_AFTER_RESTART = "found at Twilio after a restart"
RECONCILE_SLACK = timedelta(minutes=2)
TwilioKind = Literal["sms", "whatsapp", "voice"]


class TwilioChannel:
    """One of Twilio's three ways to reach a contact, on a shared gateway.

    A call's key press is posted to `voice_hook`: by default the hub's own hook under
    `public_url`; behind NAT, the centre's relay route for this hub.
    """

    def __init__(
        self,
        kind: TwilioKind,
        gateway: TwilioGateway,
        contacts: Mapping[str, Contact],
        *,
        ack_token: Callable[[OutboxEntry], str] | None = None,
        voice_hook: str | None = None,
    ) -> None:
        self.name: str = kind
        self.provider = "twilio"  # down for one kind, down for all (see notifier.redelivery)
        self._kind = kind
        self._gateway = gateway
        self._contacts = contacts
        self._ack_token = ack_token
        public_url = gateway.settings.public_url
        if voice_hook is None and public_url is not None:
            voice_hook = hook_url(public_url, VOICE_HOOK)
        self._voice_hook = voice_hook

    def _status_callback(self) -> str | None:
        public_url = self._gateway.settings.public_url
        return None if public_url is None else hook_url(public_url, STATUS_HOOK)

    def _address(self, number: str) -> str:
        return f"whatsapp:{number}" if self._kind == "whatsapp" else number

    def _sender(self) -> str:
        settings = self._gateway.settings
        if self._kind == "sms":
            return settings.sms_sender
        return self._address(settings.whatsapp_from or settings.from_number)

    async def send(self, entry: OutboxEntry) -> Delivery:
        """Send one entry as a message or a call.

        Raises:
            TransientError: the provider may take it if asked again.
        """
        contact = self._contacts.get(entry.contact)
        if contact is None or contact.phone is None:
            return Delivery("failed", f"{entry.contact} has no phone number")
        callback = self._status_callback()
        if self._kind == "voice":
            token = None if self._ack_token is None else self._ack_token(entry)
            twiml = voice_twiml(entry, self._voice_hook, token)
            return await self._gateway.place_call(contact.phone, twiml, status_callback=callback)
        to = self._address(contact.phone)
        body = message_body(entry)
        return await self._gateway.send_message(to, self._sender(), body, status_callback=callback)

    async def find(self, entry: OutboxEntry, *, since: datetime) -> Delivery | None:
        """What an interrupted send left at Twilio: its delivery if it got there, else None."""
        contact = self._contacts.get(entry.contact)
        if contact is None or contact.phone is None:
            return None
        start = since - RECONCILE_SLACK
        if self._kind == "voice":
            calls = await self._gateway.calls_since(to=contact.phone, since=start)
            return (
                Delivery("sent", "found at Twilio after restart", ref=calls[0]) if calls else None
            )
        body = message_body(entry)
        found = await self._gateway.messages(
            to=self._address(contact.phone), sender=self._sender(), since=start
        )
        for message in found:
            if message.body == body:
                return Delivery("sent", FOUND_AFTER_RESTART, ref=message.sid)
        return None

    async def status(self, ref: str) -> Delivery | None:
        """What became of a message or call: delivered, failed, or None while in transit.

        Polled as well as reported by callbacks: behind NAT no callback reaches the hub, and a
        call nobody answered must still move the alert on.
        """
        if self._kind == "voice":
            status = await self._gateway.call_status(ref)
            return status if isinstance(status, Delivery) else call_verdict(ref, status)
        found = await self._gateway.message(ref)
        if isinstance(found, Delivery):
            return found
        why = found.error_message or f"error {found.error_code}"
        return message_verdict(ref, found.status, why)
