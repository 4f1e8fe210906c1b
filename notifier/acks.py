"""Acknowledgements from carers' phones, and the seam through which the hub acts on them.

Behind a NAT nothing can reach the hub, so acknowledgements come back over connections the hub
opens itself: the ntfy "I'm on it" button publishes to a private topic the hub subscribes to,
and SMS replies are polled from Twilio (or, with a public URL, reach Twilio's web hooks). An ntfy
acknowledgement, like a key pressed on an alert's call, carries a token the hub signed for that
one notification: it cannot be forged by guessing an incident number.
"""

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from notifier.model import OutboxEntry

TOKEN_MAC_BYTES = 16
MAX_ID_DIGITS = 18
NOT_ACKNOWLEDGED = "Nothing was acknowledged, so the alarm stays with the others. Goodbye."
"""What a caller hears when the key pressed (or none) accepted nothing."""
AckChannel = Literal["ntfy", "pushover", "sms", "whatsapp", "voice", "cli", "web", "centre"]


class Acknowledgement(BaseModel):
    """A carer said "I'm on it" for an incident.

    Attributes:
        incident_id: The incident acknowledged.
        contact: Who acknowledged (a configured contact's name).
        channel: How the acknowledgement arrived.
        at: When the hub received it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    incident_id: str
    contact: str
    channel: AckChannel
    at: AwareDatetime


OnAck = Callable[[Acknowledgement], Awaitable[None]]
"""What the hub does with an acknowledgement (stop the ladder, tell the others)."""


class AckTokens:
    """Signs and checks the per-notification tokens behind the "I'm on it" button."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def token(self, entry: OutboxEntry) -> str:
        """`<entry id>.<signature>`: names the notification and proves the hub issued it."""
        return f"{entry.id}.{self._sign(entry.id)}"

    def entry_id(self, token: str) -> int | None:
        """The outbox entry a genuine token names; None for anything forged or garbled."""
        number, _, signature = token.strip().partition(".")
        # isdigit() alone takes "²" and other digits int() refuses; ids fit in 18 digits.
        if not (number.isascii() and number.isdigit() and len(number) <= MAX_ID_DIGITS):
            return None
        if not signature or not hmac.compare_digest(
            signature.encode(), self._sign(int(number)).encode()
        ):
            return None
        return int(number)

    def _sign(self, entry_id: int) -> str:
        mac = hmac.new(self._key, f"ack:{entry_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:TOKEN_MAC_BYTES]).decode().rstrip("=")
