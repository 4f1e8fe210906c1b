"""Carers' answers, handed to the hub's `Desk`.

The ntfy acknowledgement topic is subscribed to. Twilio's inbound messages are polled; or, when
Twilio can reach the hub's web hooks, they arrive there and are read back once at start only,
for replies sent while the hub was down. Either way each is claimed in the store before it is
acted on, so none is obeyed twice. Replies that predate the hub's first start are not read: they
cannot be about any of its alarms.

Only registered contacts' numbers are obeyed; anyone else gets no answer at all, so the hub's
number gives nothing away. An ntfy acknowledgement counts only with a token the hub signed.
Acknowledgements a provider heard itself (Pushover's, read from its receipts by delivery
tracking) come in through `accept_delivery`; every kind ends in the same `accept`.
"""

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Protocol, Self

import stamina

from notifier.acks import AckChannel, Acknowledgement, AckTokens
from notifier.channels.ntfy import NtfyChannel
from notifier.model import OutboxEntry, TransientError
from notifier.polling import poll_forever
from notifier.replies import HELP_TEXT, Standing, not_taken_text, parse_reply
from rules.policy import Contact

if TYPE_CHECKING:  # the Twilio SDK is loaded only where Twilio is configured
    from notifier.channels.twilio import SentMessage, TwilioGateway

log = logging.getLogger("telecare.notify.inbox")
RECONNECT_MAX_S = 60.0
POLL_OVERLAP = timedelta(seconds=30)
TokenAck = Literal["acknowledged", "not open", "not genuine"]


class Desk(Protocol):
    """What the hub does for a carer who answers."""

    async def acknowledge(self, ack: Acknowledgement) -> bool:
        """Record the acknowledgement and stop the incident's ladder; False if it was not open."""
        ...

    async def incident_to_ack(self, contact: str, number: int | None) -> str | None:
        """The incident `OK` (or `ACK <number>`) from `contact` means, if any is open."""
        ...

    async def standing(self, incident_id: str) -> Standing:
        """Where an incident stands: who acknowledged it and when, or that it is over."""
        ...

    async def status_text(self) -> str:
        """A line on how things are at home, for `STATUS`."""
        ...

    async def note_occupancy(self, contact: str, *, home: bool) -> None:
        """`HOME` or `AWAY`: whether someone is with the person."""
        ...


class InboxStore(Protocol):
    """What the inbox keeps: outbox entries to look up, SMS replies already acted on."""

    async def notification(self, entry_id: int) -> OutboxEntry | None:
        """One outbox entry by id."""
        ...

    async def claim_reply(self, sid: str, sender: str, *, received: datetime, at: datetime) -> bool:
        """Mark a reply handled; False if it already was."""
        ...

    async def replies_since(self, now: datetime) -> datetime:
        """Where reading replies resumes: the newest handled, else the first read (`now`)."""
        ...


class Inbox:
    """Runs the listeners for as long as it is entered."""

    def __init__(
        self,
        desk: Desk,
        store: InboxStore,
        tokens: AckTokens,
        contacts: Mapping[str, Contact],
        *,
        ntfy: tuple[NtfyChannel, str] | None = None,
        twilio: "TwilioGateway | None" = None,
        webhooks: bool = False,
    ) -> None:
        self._desk = desk
        self._store = store
        self._tokens = tokens
        self._by_phone = {c.phone: c.name for c in contacts.values() if c.phone}
        self._ntfy = ntfy
        self._twilio = twilio
        self._webhooks = webhooks
        self._since: datetime | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Self:
        if self._ntfy is not None:
            self._tasks.append(asyncio.create_task(self._listen_ntfy(), name="acks-ntfy"))
        if self._twilio is not None:
            reading = self._catch_up() if self._webhooks else self._poll_sms()
            self._tasks.append(asyncio.create_task(reading, name="acks-sms"))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def accept_token(self, body: str, *, channel: AckChannel = "ntfy") -> TokenAck:
        """Act on a token naming one notification ("I'm on it", a key pressed on its call).

        The acknowledgement is by the contact that notification went to, for its incident.
        A token the hub did not issue does nothing.
        """
        entry_id = self._tokens.entry_id(body)
        entry = None if entry_id is None else await self._store.notification(entry_id)
        if entry is None:
            log.warning("ignored an acknowledgement with a token the hub did not issue")
            return "not genuine"
        taken = await self.accept(entry.incident_id, entry.contact, channel=channel)
        return "acknowledged" if taken else "not open"

    async def accept_delivery(
        self, entry: OutboxEntry, contact: str, *, channel: AckChannel
    ) -> bool:
        """A provider heard `contact` accept the alarm `entry` raised (Pushover's Acknowledge)."""
        return await self.accept(entry.incident_id, contact, channel=channel)

    async def accept(self, incident_id: str, contact: str, *, channel: AckChannel) -> bool:
        """`contact` is dealing with the incident: the ladder stops and the others are told.

        Returns:
            False if it was not open, or someone had it already.
        """
        ack = Acknowledgement(
            incident_id=incident_id, contact=contact, channel=channel, at=datetime.now(UTC)
        )
        return await self._desk.acknowledge(ack)

    async def answer_sms(self, message: "SentMessage") -> str | None:
        """Act on an SMS from a phone; returns the reply sent, None for unknown numbers."""
        contact = self._by_phone.get(message.sender.removeprefix("whatsapp:"))
        if contact is None:
            log.info("ignored an SMS from a number that is not a contact")
            return None
        reply = parse_reply(message.body)
        if reply.kind == "ack":
            by: AckChannel = "whatsapp" if message.sender.startswith("whatsapp:") else "sms"
            answer = await self._ack_by_sms(contact, reply.incident, by)
        elif reply.kind == "status":
            answer = await self._desk.status_text()
        elif reply.kind in {"home", "away"}:
            await self._desk.note_occupancy(contact, home=reply.kind == "home")
            answer = f"Noted: {contact} is {'with Mum' if reply.kind == 'home' else 'away'}."
        else:
            answer = HELP_TEXT
        if self._twilio is not None:
            await self._twilio.send_message(message.sender, message.to, answer)
        return answer

    async def _ack_by_sms(self, contact: str, number: int | None, by: AckChannel) -> str:
        incident = await self._desk.incident_to_ack(contact, number)
        if incident is None:
            return (
                "There is no open alarm to acknowledge."
                if number is None
                else (f"There is no open alarm number {number}.")
            )
        if not await self.accept(incident, contact, channel=by):
            return not_taken_text(await self._desk.standing(incident), contact)
        return f"Thank you, {contact}: you are down as dealing with it. The others are told."

    async def _listen_ntfy(self) -> None:
        assert self._ntfy is not None  # started only when configured
        channel, topic = self._ntfy
        since: list[str] = []
        async for attempt in stamina.retry_context(
            on=TransientError, attempts=None, timeout=None, wait_max=RECONNECT_MAX_S
        ):
            with attempt:
                if attempt.num > 1:
                    log.warning("acknowledgement topic: reconnecting (try %d)", attempt.num)
                async for message in channel.subscribe(topic, since=since[-1] if since else None):
                    since[:] = [message.id]
                    await self.accept_token(message.message)

    async def _poll_sms(self) -> None:
        assert self._twilio is not None  # started only when configured
        await poll_forever(
            self.poll_sms_once,
            interval_s=self._twilio.settings.poll_s,
            log=log,
            failing="cannot poll Twilio for replies",
            recovered="polling Twilio for replies again",
        )

    async def _catch_up(self) -> None:
        """With web hooks: read once what arrived while the hub was down, retrying until done."""
        async for attempt in stamina.retry_context(
            on=TransientError, attempts=None, timeout=None, wait_max=RECONNECT_MAX_S
        ):
            with attempt:
                if attempt.num > 1:
                    log.warning("reading replies sent while the hub was down (try %d)", attempt.num)
                await self.poll_sms_once()

    async def poll_sms_once(self) -> int:
        """Fetch and answer new replies; returns how many were new.

        Raises:
            TransientError: Twilio could not be asked.
        """
        assert self._twilio is not None  # called only when configured
        if self._since is None:  # from the newest reply handled, else from the first read
            self._since = await self._store.replies_since(datetime.now(UTC))
        handled = 0
        for message in await self._twilio.replies(since=self._since - POLL_OVERLAP):
            if await self.hear_sms(message):
                handled += 1
                self._since = max(self._since, message.created_at or self._since)
        return handled

    async def hear_sms(self, message: "SentMessage") -> bool:
        """Claim a message from a phone and act on it; False if it was already handled.

        Claimed before acting: a crash loses a reply rather than repeat it.

        Raises:
            TransientError: the answer could not be sent (the reply itself was acted on).
        """
        now = datetime.now(UTC)
        received = message.created_at or now
        claimed = await self._store.claim_reply(
            message.sid, message.sender, received=received, at=now
        )
        if not claimed:
            return False
        await self.answer_sms(message)
        return True
