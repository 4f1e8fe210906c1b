"""Outbox entries for notifier tests."""

from datetime import UTC, datetime
from typing import Any

from notifier.model import OutboxEntry
from rules.policy import Contact

ALICE = Contact(name="Alice", phone="+447700900123", ntfy_topic="alice-phone")
BEN = Contact(name="Ben", phone="+447700900456", ntfy_topic="ben-phone")
CONTACTS = {c.name: c for c in (ALICE, BEN)}


def entry(**overrides: Any) -> OutboxEntry:
    """An emergency for Alice by SMS unless told otherwise."""
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "id": 1,
        "key": "pendant-1/step0/Alice/sms",
        "incident_id": "pendant-1",
        "severity": "emergency",
        "contact": "Alice",
        "channel": "sms",
        "text": "Mum pressed her pendant in the Bedroom at 10:42.",
        "state": "pending",
        "created_at": now,
        "updated_at": now,
    }
    fields.update(overrides)
    return OutboxEntry.model_validate(fields)
