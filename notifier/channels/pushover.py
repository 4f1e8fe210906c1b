"""Pushover: an emergency that rings until the carer acknowledges it, through a silenced phone.

The only module that talks to Pushover's API. An alarm of an emergency goes at priority 2
("emergency"): Pushover repeats it every `retry_s` until it is acknowledged or `expire_s` has
passed, and the Pushover app can play it as an iOS critical alert, through silent mode and Focus,
or override Do Not Disturb on Android (docs/PHONES.md). An urgent alarm goes at priority 1, which
the app's quiet hours do not hold back; news about an alarm at 0 and information at -1, which
makes no sound.

Priority 2 answers with a receipt, which delivery tracking reads (`status`):
- acknowledged in the app: delivered, and accepted by the contact whose user key
  `acknowledged_by` names, if she is one (an acknowledgement by anyone else accepts nothing);
- received by no phone within `delivery_window_s`: withdrawn and failed, so the alert moves on;
- expired unacknowledged: settled as delivered (or failed, if it never arrived).
While an alarm is no longer wanted (accepted elsewhere, or over), `withdraw` reads the receipt a
last time and cancels it, so it stops ringing.

Pushover cannot list what was sent: an emergency interrupted by a crash may be sent twice.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from notifier.channels.http import HTTP_CLIENT_ERROR, Pooled, Reply, request
from notifier.model import Delivery, OutboxEntry, is_alarm
from notifier.settings import PushoverSettings
from rules.policy import Contact, Severity

log = logging.getLogger("telecare.notify.pushover")
EMERGENCY = 2
ALARM_PRIORITY: dict[Severity, int] = {"emergency": EMERGENCY, "urgent": 1, "info": -1}
NEWS_PRIORITY = 0
QUIET = -1  # no sound, no vibration: information waits until she looks
TITLE: dict[Severity, str] = {"emergency": "EMERGENCY", "urgent": "Urgent", "info": "For info"}
MESSAGE_MAX = 1024  # Pushover's limits, in characters
TITLE_MAX = 250
PROVIDER = "Pushover"


@dataclass(frozen=True, slots=True)
class Receipt:
    """What Pushover's receipts API says about an emergency (times in Unix seconds, 0 if not)."""

    acknowledged: bool
    acknowledged_by: str
    acknowledged_by_device: str
    last_delivered_at: int
    expired: bool
    expires_at: int

    @classmethod
    def parse(cls, data: Mapping[str, object]) -> "Receipt":
        """Read the fields the hub uses; missing or odd ones count as not set."""

        def number(name: str) -> int:
            value = data.get(name)
            return int(value) if isinstance(value, int | float | str) and _digits(value) else 0

        return cls(
            acknowledged=number("acknowledged") == 1,
            acknowledged_by=str(data.get("acknowledged_by") or ""),
            acknowledged_by_device=str(data.get("acknowledged_by_device") or ""),
            last_delivered_at=number("last_delivered_at"),
            expired=number("expired") == 1,
            expires_at=number("expires_at"),
        )


def _digits(value: object) -> bool:
    return str(value).lstrip("-").isdigit()


class PushoverChannel(Pooled):
    """Sends outbox entries to contacts' Pushover user keys and follows emergencies' receipts."""

    name = "pushover"

    def __init__(
        self,
        settings: PushoverSettings,
        contacts: Mapping[str, Contact],
        *,
        dashboard_url: str | None = None,
    ) -> None:
        super().__init__(settings.timeout_s)
        self.settings = settings
        self._contacts = contacts
        self._by_user = {c.pushover_user: c.name for c in contacts.values() if c.pushover_user}
        self._base = settings.api_base.rstrip("/")
        self._dashboard_url = dashboard_url

    async def send(self, entry: OutboxEntry) -> Delivery:
        """Send one entry; an emergency's alarm comes back with its receipt as `ref`.

        Raises:
            TransientError: timeouts, connection errors, 5xx and 429.
        """
        contact = self._contacts.get(entry.contact)
        if contact is None or contact.pushover_user is None:
            return Delivery("failed", f"{entry.contact} has no pushover_user")
        priority = ALARM_PRIORITY[entry.severity] if is_alarm(entry) else NEWS_PRIORITY
        if entry.severity == "info":
            priority = QUIET
        form = {
            "token": self._token(),
            "user": contact.pushover_user,
            "title": f"{TITLE[entry.severity]}: telecare"[:TITLE_MAX],
            "message": entry.text[:MESSAGE_MAX],
            "priority": str(priority),
            "timestamp": str(int(entry.created_at.timestamp())),
        }
        if self._dashboard_url is not None:
            form.update(url=self._dashboard_url, url_title="Open dashboard")
        if priority == EMERGENCY:
            retry, expire = self.settings.retry_s, self.settings.expire_s
            form.update(retry=str(retry), expire=str(expire), sound=self.settings.sound)
        reply = await self._post("/1/messages.json", form)
        if (refused := _refusal(reply)) is not None:
            return refused
        receipt = reply.json_field("receipt")
        if priority == EMERGENCY and isinstance(receipt, str) and receipt:
            return Delivery("sent", "Pushover emergency, repeating until acknowledged", ref=receipt)
        return Delivery("sent", f"Pushover request {reply.json_field('request')}")

    async def status(self, ref: str) -> Delivery | None:
        """An emergency's fate from its receipt; None while it rings unanswered.

        Raises:
            TransientError: Pushover could not be asked.
        """
        receipt = await self._unanswered(ref)
        if isinstance(receipt, Delivery):
            return receipt
        if receipt.last_delivered_at == 0 and self._window_passed(receipt):
            await self.cancel(ref)
            window = f"{self.settings.delivery_window_s:g}"
            return Delivery("failed", f"Pushover: no phone received it within {window} s", ref=ref)
        if receipt.expired:
            return _expired(ref, receipt)
        return None

    async def withdraw(self, ref: str) -> Delivery:
        """Stop an emergency that is no longer wanted; its last state, for the record.

        Raises:
            TransientError: Pushover could not be asked.
        """
        receipt = await self._unanswered(ref)
        if isinstance(receipt, Delivery):
            return receipt
        await self.cancel(ref)
        why = "Pushover emergency withdrawn: answered elsewhere or over"
        if receipt.last_delivered_at:
            return Delivery("delivered", why, ref=ref)
        return Delivery("failed", f"{why}; no phone had received it", ref=ref)

    async def receipt(self, ref: str) -> Receipt | Delivery:
        """The receipt of an emergency, or a failed Delivery if Pushover does not know it.

        Raises:
            TransientError: Pushover could not be asked.
        """
        url = f"{self._base}/1/receipts/{ref}.json"
        reply = await request(
            self._open(), "GET", url, provider=PROVIDER, params={"token": self._token()}
        )
        if (refused := _refusal(reply)) is not None:
            return Delivery("failed", refused.detail, ref=ref)
        return Receipt.parse(reply.json())

    async def cancel(self, ref: str) -> None:
        """Stop an emergency's repeats (Pushover's receipts cancel API).

        Raises:
            TransientError: Pushover could not be asked.
        """
        reply = await self._post(f"/1/receipts/{ref}/cancel.json", {"token": self._token()})
        if (refused := _refusal(reply)) is not None:
            log.warning("could not cancel an emergency's repeats: %s", refused.detail)

    async def _unanswered(self, ref: str) -> Receipt | Delivery:
        """The receipt of an emergency still unanswered, else its end (acknowledged, unknown)."""
        receipt = await self.receipt(ref)
        if isinstance(receipt, Receipt) and receipt.acknowledged:
            return self._acknowledged(ref, receipt)
        return receipt

    def _acknowledged(self, ref: str, receipt: Receipt) -> Delivery:
        contact = self._by_user.get(receipt.acknowledged_by)
        device = receipt.acknowledged_by_device or "a device"
        if contact is None:
            log.warning("an emergency was acknowledged by a Pushover user who is not a contact")
            return Delivery("delivered", "acknowledged in Pushover by someone not a contact", ref)
        return Delivery(
            "delivered", f"acknowledged in Pushover on {device}", ref=ref, accepted_by=contact
        )

    def _window_passed(self, receipt: Receipt) -> bool:
        sent_at = receipt.expires_at - self.settings.expire_s
        now = datetime.now(UTC).timestamp()
        return now - sent_at >= self.settings.delivery_window_s

    async def _post(self, path: str, form: dict[str, str]) -> Reply:
        return await request(self._open(), "POST", self._base + path, provider=PROVIDER, data=form)

    def _token(self) -> str:
        return self.settings.app_token.get_secret_value()


def _refusal(reply: Reply) -> Delivery | None:
    """A failed Delivery in Pushover's own words if it refused the request, else None."""
    body = reply.json()
    if reply.status < HTTP_CLIENT_ERROR and body.get("status") == 1:
        return None
    errors = body.get("errors")
    said = "; ".join(str(e) for e in errors) if isinstance(errors, list) else reply.text[:200]
    return Delivery("failed", f"Pushover refused ({reply.status}): {said}")


def _expired(ref: str, receipt: Receipt) -> Delivery:
    if receipt.last_delivered_at:
        return Delivery("delivered", "Pushover emergency expired unacknowledged", ref=ref)
    return Delivery("failed", "Pushover emergency expired; no phone received it", ref=ref)
