"""Alarms owed to carers: failed while their provider was down, sent once it answers again.

An alarm whose channel gave up because the provider did not answer (timeouts, 5xx, 429, after
every retry) has moved on already: to the contact's next channel, and up the ladder to the next
people. It is still owed to its contact, unless she has heard of the alarm since another way.
Every `every_s` the oldest alarm owed on each provider is tried once; once the provider takes
it, the rest owed on it follow one at a time, in the order they were raised.

An alarm is owed only while its incident still fires, in the same round of the ladder: one
accepted, resolved or cancelled meanwhile is never sent. It is owed no more once its contact has
the incident's alarm by any channel (the hub's own outbox is no phone), or while another send of
it to her is under way: nobody hears of an alarm twice.

While an alarm is owed on a channel, its provider is down (Twilio for SMS, WhatsApp and calls
alike): the dispatcher fails anything new for it at once, and retries no more what it is still
trying, rather than spend their retries on a provider known to be away. A new alarm moves to
the contact's next channel without delay, and is owed too: the backlog goes out in raised order.
News about an alarm (who is dealing with it, that it is over) is not owed, and does not arrive
out of the blue once the provider is back.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

from notifier.model import Delivery, OutboxEntry, alarm_round

log = logging.getLogger("telecare.notify")
RESEND_EVERY_S = 15.0
_NOT_A_PHONE = "outbox"  # the hub's console and dashboard: nobody is told by it


@dataclass(frozen=True, slots=True)
class Owed:
    """The outbox of the incidents still firing that have an alarm failed for want of a provider.

    Attributes:
        entries: Every outbox entry of those incidents.
        rounds: Each incident's round of the ladder.
    """

    entries: Sequence[OutboxEntry] = ()
    rounds: Mapping[str, int] = field(default_factory=dict)

    def alarms(self) -> list[OutboxEntry]:
        """The alarms owed to contacts the incident has not reached since, oldest first."""
        current = [e for e in self.entries if self._current(e)]
        told = {(e.incident_id, e.contact) for e in current if e.state in ("sent", "delivered")}
        waiting = [
            e
            for e in current
            if e.state == "failed" and e.unreachable and (e.incident_id, e.contact) not in told
        ]
        return sorted(waiting, key=lambda e: e.id)

    def ready(self) -> list[OutboxEntry]:
        """The owed alarms to send now: none to a contact another send of it is on its way to."""
        under_way = {
            (e.incident_id, e.contact)
            for e in self.entries
            if self._current(e) and e.state == "pending"
        }
        return [e for e in self.alarms() if (e.incident_id, e.contact) not in under_way]

    def _current(self, entry: OutboxEntry) -> bool:
        """An alarm of its incident's current round, on a channel that reaches a phone."""
        return (
            entry.channel != _NOT_A_PHONE
            and entry.incident_id in self.rounds
            and alarm_round(entry) == self.rounds[entry.incident_id]
        )


class OwedStore(Protocol):
    """The part of the store redelivery needs."""

    async def owed_notifications(self) -> Owed:
        """The outbox of the incidents still firing that have an alarm owed."""
        ...


class Redelivery:
    """Tries the owed alarms again every `every_s`, and knows which channels are down."""

    def __init__(
        self,
        store: OwedStore,
        send: Callable[[OutboxEntry], Awaitable[Delivery]],
        *,
        providers: Mapping[str, str] | None = None,
        every_s: float = RESEND_EVERY_S,
    ) -> None:
        self._store = store
        self._send = send
        self._providers = dict(providers or {})  # channel -> its provider, if not its own
        self._every_s = every_s
        self._down: set[str] = set()  # providers
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="notify-redelivery")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def is_down(self, channel: str) -> bool:
        """Whether `channel`'s provider is down: alarms are owed on it, or it has just failed."""
        return self._provider(channel) in self._down

    def gave_up(self, channel: str) -> None:
        """An alarm's send on `channel` gave up: its provider is not answering."""
        provider = self._provider(channel)
        if provider not in self._down:
            log.warning("%s is not answering: its alarms will be sent once it is back", provider)
        self._down.add(provider)

    def _provider(self, channel: str) -> str:
        return self._providers.get(channel, channel)

    async def _run(self) -> None:
        while True:
            try:
                await self.resend()
            except Exception:
                log.exception("owed alarms could not be sent this time")
            await asyncio.sleep(self._every_s)

    async def resend(self) -> None:
        """One pass: each channel's owed alarms, oldest first, until its provider fails again.

        The list is read again after each send: an alarm accepted, or one raised, meanwhile is
        seen at once. Each entry is tried once a pass, even if its outcome could not be written.
        """
        silent: set[str] = set()  # providers that did not answer in this pass
        tried: set[int] = set()
        while True:
            owed = await self._store.owed_notifications()
            ready = [
                e
                for e in owed.ready()
                if self._provider(e.channel) not in silent and e.id not in tried
            ]
            if not ready:
                break
            entry = ready[0]
            tried.add(entry.id)
            delivery = await self._send(entry)
            if delivery.unreachable:
                silent.add(self._provider(entry.channel))
            elif delivery.state != "failed":
                log.info("owed alarm %s reached %s at last", entry.key, entry.contact)
        down = {self._provider(e.channel) for e in owed.alarms()}
        for provider in sorted(self._down - down):
            log.warning("%s is answering again: the alarms owed on it are out", provider)
        self._down = down
