"""What the dispatcher works through: channels, and the store of the outbox."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from notifier.model import Delivery, OutboxEntry
from notifier.redelivery import Owed
from rules.incidents import Notify


class Channel(Protocol):
    """A way of reaching a contact."""

    name: str

    async def send(self, entry: OutboxEntry) -> Delivery:
        """Deliver one entry; a permanent refusal is a failed Delivery.

        Raises:
            TransientError: the provider may take it if asked again.
        """
        ...


@runtime_checkable
class Reconciling(Protocol):
    """A channel that can tell whether an interrupted send reached the provider."""

    async def find(self, entry: OutboxEntry, *, since: datetime) -> Delivery | None:
        """The earlier send of `entry` started at `since`, if the provider has it."""
        ...


class OutboxStore(Protocol):
    """The part of the store the dispatcher needs."""

    async def pending_notifications(self) -> list[OutboxEntry]:
        """Entries written but not yet handed to a channel."""
        ...

    async def owed_notifications(self) -> Owed:
        """The outbox of the incidents still firing that have an alarm owed."""
        ...

    async def mark_notification(self, entry_id: int, delivery: Delivery, *, at: datetime) -> None:
        """Record an outcome for an entry that no send was started for."""
        ...

    async def record_delivery(
        self,
        entry: OutboxEntry,
        channel: str,
        delivery: Delivery,
        *,
        started: datetime,
        at: datetime,
    ) -> None:
        """Record one send and its outcome."""
        ...

    async def add_notices(self, notes: Sequence[Notify], *, at: datetime) -> list[OutboxEntry]:
        """Add notifier-made entries to the outbox."""
        ...
