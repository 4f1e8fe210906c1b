"""What the notifier stores and reports: outbox entries and delivery outcomes."""

from dataclasses import dataclass
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from rules.policy import Channel, Severity

DeliveryState = Literal["pending", "sent", "delivered", "failed"]
SEVERITY_RANK: dict[Severity, int] = {"emergency": 0, "urgent": 1, "info": 2}


class OutboxEntry(BaseModel):
    """One notification in the durable outbox: written before it is sent.

    Attributes:
        id: Row id in the store.
        key: Idempotency key from the engine: one step of one incident to one contact.
        state: pending until a channel has taken it; then sent, delivered or failed.
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


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a channel made of one entry."""

    state: Literal["sent", "delivered", "failed"]
    detail: str | None = None
