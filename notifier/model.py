"""What the notifier stores and reports: outbox entries and delivery outcomes."""

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from rules.policy import Channel, Severity

DeliveryState = Literal["pending", "sent", "delivered", "failed"]
SEVERITY_RANK: dict[Severity, int] = {"emergency": 0, "urgent": 1, "info": 2}
# The engine keys each rung of the ladder `<incident>/step<n>/...` (`r<round>.step<n>` when it
# starts again); other parts (`ack`, `resolved`, `note` ...) are news about the alarm.
_STEP_PART = re.compile(r"^(?:r(\d+)\.)?step\d+$")


class OutboxEntry(BaseModel):
    """One notification in the durable outbox: written before it is sent.

    Attributes:
        id: Row id in the store.
        key: Idempotency key from the engine: one step of one incident to one contact.
        state: pending until a channel has taken it; then sent, delivered or failed.
        unreachable: It failed because its provider did not answer (see `Delivery`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    key: str
    incident_id: str
    severity: Severity
    contact: str
    channel: Channel
    text: str
    state: DeliveryState
    created_at: AwareDatetime
    updated_at: AwareDatetime
    attempts: int = 0
    detail: str | None = None
    unreachable: bool = False


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a channel made of one entry.

    Attributes:
        state: sent (the provider took it), delivered (it reached the phone) or failed.
        detail: The provider's words for a failure, or a note.
        ref: The provider's id for what was sent (a Twilio SID, an ntfy message id).
        accepted_by: The contact who accepted the alarm through the provider itself (pressed
            "Acknowledge" in the Pushover app). Never set for a call that was answered or a
            message that was read: only an explicit answer is an acceptance.
        unreachable: A failure because the provider did not answer (timeouts, 5xx, 429) however
            often it was asked, not because it refused: the alarm is owed to its contact once
            the provider is back (`notifier.redelivery`).
    """

    state: Literal["sent", "delivered", "failed"]
    detail: str | None = None
    ref: str | None = None
    accepted_by: str | None = None
    unreachable: bool = False


class TransientError(Exception):
    """A send that may succeed if tried again: timeout, connection error, 5xx, 429.

    Attributes:
        retry_after_s: How long the provider asked us to wait, if it said.
    """

    def __init__(self, detail: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after_s = retry_after_s


def retry_after_s(header: str | None) -> float | None:
    """Seconds from an HTTP `Retry-After` header given as a number (dates are not trusted)."""
    if header is None:
        return None
    try:
        value = float(header.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def is_alarm(entry: OutboxEntry) -> bool:
    """Whether `entry` raises its alarm (a rung of the ladder, or one failed over from it).

    News about an alarm (who is dealing with it, that it is over) is not: it must not wail or
    ring through Do Not Disturb, as the alarm itself does.
    """
    return alarm_round(entry) is not None


def alarm_round(entry: OutboxEntry) -> int | None:
    """The round of the ladder whose alarm `entry` raises (0 until it re-fires); None for news."""
    if entry.severity == "info":
        return None
    part = entry.key.removeprefix(f"{entry.incident_id}/").split("/", 1)[0]
    found = _STEP_PART.match(part)
    if found is None:
        return None
    return int(found.group(1) or 0)
