"""Following sent messages to their end: delivered, or undelivered and failed over.

The hub polls each sent message until the provider says delivered or failed. With a public URL
Twilio also calls back with the news (`report`), which usually settles a message before it is
first polled; the poll stays as the fallback, because Twilio does not repeat a callback that
could not reach the hub (a tunnel down, the hub restarting, a callback racing the send's own
record), and a lost "undelivered" would be an alarm that silently never arrived. "Undelivered"
(a phone off for days, a carrier filter), a call that was busy or not answered, a Pushover alarm
no phone received: each is a failure like a refused send, and the alert moves to the contact's
next channel at once, not at the ladder's next step. A settled entry is no longer polled, and
failover is keyed per entry, so a callback and a poll bringing the same news move the alert once.

Some providers hear the carer's answer themselves (Pushover's "Acknowledge"): a verdict with
`accepted_by` is handed to `accept`, the same path every other acknowledgement takes. An answered
call is delivered, never accepted. A message that keeps ringing until answered (`Withdrawing`)
is withdrawn once `wanted` says its alarm no longer needs it (answered elsewhere, or over).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from notifier.model import Delivery, OutboxEntry
from notifier.polling import poll_forever

log = logging.getLogger("telecare.notify.tracking")
# Some carriers never report "delivered"; after a day a message's fate no longer changes the
# alarm, and asking about it forever would cost a request per message per poll.
TRACK_FOR = timedelta(days=1)


@runtime_checkable
class StatusChannel(Protocol):
    """A channel whose provider reports delivery."""

    async def status(self, ref: str) -> Delivery | None:
        """The message's fate, or None while it is still on its way."""
        ...


@runtime_checkable
class Withdrawing(Protocol):
    """A channel whose messages keep ringing until answered, and can be stopped."""

    async def withdraw(self, ref: str) -> Delivery:
        """Stop the message; its last state, for the record."""
        ...


class Awaiting(Protocol):
    """A sent entry and its provider reference."""

    @property
    def entry(self) -> OutboxEntry:
        """The outbox entry."""
        ...

    @property
    def ref(self) -> str:
        """The provider's id for it."""
        ...


class StatusStore(Protocol):
    """The part of the store that tracking needs."""

    async def awaiting_status(
        self, channels: Sequence[str], *, since: datetime
    ) -> Sequence[Awaiting]:
        """Entries sent on `channels` since `since` not yet reported delivered or failed."""
        ...

    async def record_status(
        self, entry_id: int, ref: str, delivery: Delivery, *, at: datetime
    ) -> None:
        """Record the provider's verdict."""
        ...


FailOver = Callable[[OutboxEntry, Delivery], Awaitable[None]]
Accept = Callable[[OutboxEntry, str], Awaitable[None]]
"""The named contact accepted the alarm `entry` raised, through the provider."""
Wanted = Callable[[OutboxEntry], Awaitable[bool]]
"""Whether the alarm `entry` raised still needs an answer (its incident is still firing)."""


class StatusTracker:
    """Polls providers for sent entries' delivery and fails over the undelivered."""

    def __init__(
        self,
        store: StatusStore,
        channels: Mapping[str, StatusChannel],
        fail_over: FailOver,
        *,
        poll_s: float,
        accept: Accept | None = None,
        wanted: Wanted | None = None,
        name: str = "notify-tracking",
    ) -> None:
        self._store = store
        self._channels = dict(channels)
        self._fail_over = fail_over
        self._poll_s = poll_s
        self._accept = accept
        self._wanted = wanted
        self._name = name
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name=self._name)
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

    async def _run(self) -> None:
        await poll_forever(
            self.check_once,
            interval_s=self._poll_s,
            log=log,
            failing="cannot ask the provider for delivery status",
            recovered="delivery status reachable again",
        )

    async def check_once(self) -> int:
        """Ask about every sent entry once; returns how many reached an end.

        Raises:
            TransientError: the provider could not be asked.
        """
        settled = 0
        for waiting in await self._awaiting():
            channel = self._channels[waiting.entry.channel]
            if isinstance(channel, Withdrawing) and not await self._still_wanted(waiting.entry):
                last = await channel.withdraw(waiting.ref)
                await self._settle(waiting, last, fail_over=False)  # nobody needs it now
                settled += 1
                continue
            verdict = await channel.status(waiting.ref)
            if verdict is not None:
                settled += 1
                await self._settle(waiting, verdict)
        return settled

    async def _still_wanted(self, entry: OutboxEntry) -> bool:
        return self._wanted is None or await self._wanted(entry)

    async def report(self, verdict: Delivery) -> bool:
        """The provider's news about the sent entry whose reference is `verdict.ref`.

        Returns:
            False if no sent entry awaits news under that reference (already settled, not an
            alert, or older than a day).
        """
        for waiting in await self._awaiting():
            if waiting.ref == verdict.ref:
                await self._settle(waiting, verdict)
                return True
        return False

    async def _awaiting(self) -> Sequence[Awaiting]:
        since = datetime.now(UTC) - TRACK_FOR
        return await self._store.awaiting_status(list(self._channels), since=since)

    async def _settle(
        self, waiting: Awaiting, verdict: Delivery, *, fail_over: bool = True
    ) -> None:
        at = datetime.now(UTC)
        await self._store.record_status(waiting.entry.id, waiting.ref, verdict, at=at)
        if verdict.accepted_by is not None and self._accept is not None:
            await self._accept(waiting.entry, verdict.accepted_by)
        if verdict.state == "failed" and fail_over:
            log.error("%s to %s: %s", waiting.entry.key, waiting.entry.contact, verdict.detail)
            await self._fail_over(waiting.entry, verdict)
