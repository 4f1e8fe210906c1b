"""Budgets for the channels that cost money and patience: SMS, WhatsApp and calls per contact.

An exhausted budget is a failure like any other: an emergency moves to the next channel and a
notice says the budget ran out; nothing is dropped silently. Counts are kept in memory (loaded
from the store's delivery records at first use), so checking a budget costs an alarm nothing.
"""

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from notifier.model import OutboxEntry

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class BudgetStore(Protocol):
    """The part of the store that remembers sends."""

    async def delivery_times(self, since: datetime) -> list[tuple[str, str, datetime]]:
        """(contact, channel, started) of every send not failed since `since`."""
        ...


@dataclass(frozen=True, slots=True)
class Budget:
    """At most `per_hour` and `per_day` sends to one contact over the `channels` sharing it."""

    what: str
    channels: tuple[str, ...]
    per_hour: int
    per_day: int


class Budgets:
    """Checks entries against their channel's budget and counts what is spent."""

    def __init__(self, store: BudgetStore, budgets: Sequence[Budget]) -> None:
        self._store = store
        self._by_channel = {c: b for b in budgets for c in b.channels}
        self._spent: dict[tuple[str, str], list[datetime]] = {}  # each in time order
        self._loaded = False

    async def exhausted(self, entry: OutboxEntry, *, now: datetime) -> str | None:
        """Why the entry may not be sent now, or None if the budget allows it."""
        budget = self._by_channel.get(entry.channel)
        if budget is None:
            return None
        if not self._loaded:
            for contact, channel, at in await self._store.delivery_times(now - DAY):
                if channel in self._by_channel:
                    bisect.insort(self._times(contact, self._by_channel[channel]), at)
            self._loaded = True
        times = self._times(entry.contact, budget)
        del times[: bisect.bisect_right(times, now - DAY)]
        last_hour = len(times) - bisect.bisect_right(times, now - HOUR)
        for used, limit, label in (
            (last_hour, budget.per_hour, "hour"),
            (len(times), budget.per_day, "day"),
        ):
            if used >= limit:
                return (
                    f"budget exhausted: {used} {budget.what} to {entry.contact} in the last"
                    f" {label} (limit {limit})"
                )
        return None

    def spend(self, entry: OutboxEntry, *, at: datetime) -> None:
        """Count a send that is starting."""
        budget = self._by_channel.get(entry.channel)
        if budget is not None:
            bisect.insort(self._times(entry.contact, budget), at)

    def refund(self, entry: OutboxEntry, *, at: datetime) -> None:
        """Un-count a send that failed: nothing reached the phone."""
        budget = self._by_channel.get(entry.channel)
        times = None if budget is None else self._spent.get((entry.contact, budget.what))
        if times is not None and at in times:
            times.remove(at)

    def _times(self, contact: str, budget: Budget) -> list[datetime]:
        return self._spent.setdefault((contact, budget.what), [])
