"""The local outbox channel: the notification is shown on the hub's console and kept in the store.

Used by the demo and by homes that have no phone channel configured yet; the dashboard reads the
same stored entries.
"""

import logging

from notifier.model import Delivery, OutboxEntry

log = logging.getLogger("telecare.notify")


class LocalOutbox:
    """Delivers by logging the message for the named contact."""

    name = "outbox"

    async def send(self, entry: OutboxEntry) -> Delivery:
        """Show the message; it is delivered once shown and stored."""
        log.warning("%s -> %s: %s", entry.severity.upper(), entry.contact, entry.text)
        return Delivery("delivered")
