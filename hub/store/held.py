"""A batch the disk refused, held with its messages; which of them the broker may have first."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from hub.store.commit import Batch
from rules.incidents import IncidentChanged
from wire.schema import InboundMessage


@dataclass(slots=True)
class Held:
    """A batch the disk refused, and the messages that wait on it."""

    batch: Batch
    at: datetime
    messages: list[InboundMessage]


def beyond_window(held: Iterable[Held], unacked_max: int) -> list[InboundMessage]:
    """Take, to acknowledge, the held messages beyond `unacked_max`, oldest first.

    Messages whose batch changed no incident go first; those of a batch that opened, moved or
    closed one only when nothing else is left to acknowledge: the broker keeps them while it
    can, so that a hub restarted before the disk takes writes knows the alarm again.
    """
    batches = sorted(held, key=lambda h: _changes_incident(h.batch))  # stable: oldest first
    unacked = sum(len(h.messages) for h in batches)
    released: list[InboundMessage] = []
    for one in batches:
        while one.messages and unacked > unacked_max:
            released.append(one.messages.pop(0))
            unacked -= 1
    return released


def _changes_incident(batch: Batch) -> bool:
    return any(isinstance(action, IncidentChanged) for action in batch.actions)
