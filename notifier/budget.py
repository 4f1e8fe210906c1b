"""Budgets for the channels that cost money and patience: SMS, WhatsApp and calls per contact.

An exhausted budget is a failure like any other: an emergency moves to the next channel (push,
another contact's ladder carries on) and a notice says the budget ran out; nothing is dropped
silently.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from notifier.model import OutboxEntry

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class BudgetStore(Protocol):
    """The part of the store that counts sends."""

    async def deliveries_since(self, contact: str, channels: Sequence[str], since: datetime) -> int:
        """Sends to `contact` on `channels` since `since`."""
        ...


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `per_hour` and `per_day` sends to one contact over the `channels` sharing it."""

    what: str
    channels: tuple[str, ...]
    per_hour: int
    per_day: int


class Budgets:
    """Checks an entry against its channel's budget."""

    def __init__(self, store: BudgetStore, budgets: Sequence[Budget]) -> None:
        self._store = store
        self._by_channel: Mapping[str, Budget] = {c: b for b in budgets for c in b.channels}

    async def exhausted(self, entry: OutboxEntry, *, now: datetime) -> str | None:
        """Why the entry may not be sent now, or None if the budget allows it."""
        budget = self._by_channel.get(entry.channel)
        if budget is None:
            return None
        for window, limit, label in ((HOUR, budget.per_hour, "hour"), (DAY, budget.per_day, "day")):
            used = await self._store.deliveries_since(entry.contact, budget.channels, now - window)
            if used >= limit:
                return (
                    f"budget exhausted: {used} {budget.what} to {entry.contact} in the last"
                    f" {label} (limit {limit})"
                )
        return None
