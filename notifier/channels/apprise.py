"""Everything else a family already uses (Pushover, Telegram, Signal, e-mail...) through Apprise.

The only module that touches `apprise`. Apprise's plugins mostly block on their HTTP calls, so
a send runs in a worker thread: a slow Telegram never holds up the hub's event loop. Apprise
only answers yes or no, so a refusal is treated as transient and retried; when the retries run
out the entry fails over like any other.
"""

import asyncio
import logging
from collections.abc import Mapping, Sequence

import apprise
from pydantic import SecretStr

from notifier.model import Delivery, OutboxEntry, TransientError
from notifier.settings import AppriseSettings
from rules.policy import Severity

log = logging.getLogger("telecare.notify.apprise")
NOTIFY_TYPE: dict[Severity, str] = {
    "emergency": apprise.NotifyType.FAILURE,
    "urgent": apprise.NotifyType.WARNING,
    "info": apprise.NotifyType.INFO,
}
TITLE: dict[Severity, str] = {"emergency": "EMERGENCY", "urgent": "Urgent", "info": "For info"}


class AppriseChannel:
    """Sends an entry to every Apprise URL configured for its contact."""

    name = "apprise"

    def __init__(self, settings: AppriseSettings) -> None:
        self._urls: Mapping[str, Sequence[SecretStr]] = settings.urls

    def invalid_urls(self) -> list[str]:
        """Contacts whose URLs Apprise does not understand (checked at start)."""
        bad: list[str] = []
        for contact, urls in self._urls.items():
            for index, url in enumerate(urls):
                if not apprise.Apprise().add(url.get_secret_value()):
                    bad.append(f"apprise.urls.{contact}[{index}]")
        return bad

    async def send(self, entry: OutboxEntry) -> Delivery:
        """Notify every URL of the entry's contact.

        Raises:
            TransientError: some service did not take it.
        """
        urls = [u.get_secret_value() for u in self._urls.get(entry.contact, ())]
        if not urls:
            return Delivery("failed", f"{entry.contact} has no Apprise URLs")
        sent = await asyncio.to_thread(_notify, urls, entry)
        if sent is None:
            return Delivery("failed", "none of the Apprise URLs is valid")
        if not sent:
            raise TransientError(f"Apprise could not notify every service for {entry.contact}")
        return Delivery("sent", f"{len(urls)} service(s)")


def _notify(urls: list[str], entry: OutboxEntry) -> bool | None:
    sender = apprise.Apprise()
    if not any([sender.add(url) for url in urls]):  # noqa: C419  # add every URL
        return None
    result: bool | None = sender.notify(
        body=entry.text,
        title=f"{TITLE[entry.severity]}: telecare",
        notify_type=NOTIFY_TYPE[entry.severity],
    )
    return result
