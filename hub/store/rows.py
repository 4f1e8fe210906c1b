"""Row helpers shared by the store's modules (no SQL here)."""

from datetime import datetime
from typing import Any

from hub.store.records import StoredEvent
from notifier.model import OutboxEntry
from rules.incidents import Notify
from wire.event import DeviceEvent


def iso(value: datetime | None) -> str | None:
    """A time as stored: ISO 8601 with its offset."""
    return None if value is None else value.isoformat()


def as_bool(value: object) -> bool | None:
    """SQLite's 0/1/NULL as a bool or None."""
    return None if value is None else bool(value)


def without(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The row less some columns."""
    return {k: v for k, v in row.items() if k not in keys}


def stored_event(row: dict[str, Any]) -> StoredEvent:
    """An events row as a model."""
    fields = ("device_id", "type", "source", "received_at", "ts", "seq", "battery", "value")
    event = DeviceEvent.model_validate({k: row[k] for k in fields})
    return StoredEvent(id=row["id"], event=event, topic=row["topic"])


def new_outbox_entry(note: Notify, entry_id: int, at: datetime) -> OutboxEntry:
    """The outbox entry a notification decision becomes, not yet handed to a channel."""
    return OutboxEntry(
        id=entry_id,
        key=note.key,
        incident_id=note.incident_id,
        severity=note.severity,
        contact=note.contact,
        channel=note.channel,
        text=note.text,
        state="pending",
        created_at=at,
        updated_at=at,
    )
