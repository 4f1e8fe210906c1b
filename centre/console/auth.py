"""Who is asking: signed session cookies, CSRF tokens, login attempts and roles.

A session is an HTTP-only, SameSite=Strict cookie signed with the console's key (HMAC-SHA256):
it names the operator and when it ends, so any console process holding the key accepts it and
a restart logs nobody out. The operator's role and name are read from the database on every
request, so removing or demoting an operator takes effect at once. Every state change carries
the session's CSRF token (derived from the session with the same key): in the `X-CSRF-Token`
header for the API, in a `csrf` form field for pages.
"""

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from webguard.logins import same_token

Role = Literal["operator", "supervisor"]
SESSION_COOKIE = "centre_session"
LOGIN_CSRF_COOKIE = "centre_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
MAX_FAILURES_PER_CLIENT = 5
MAX_FAILURES_OVERALL = 30


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in operator, as the cookie and the `operators` table say."""

    username: str
    name: str
    role: Role
    csrf: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Ticket:
    """What a valid cookie says: who, which session, until when (seconds since the epoch)."""

    username: str
    sid: str
    expires_at: float


class Signer:
    """Makes and checks session cookies and their CSRF tokens with one secret key."""

    def __init__(
        self, key: bytes, lifetime_s: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self._lifetime_s = lifetime_s
        self._clock = clock

    def cookie(self, username: str) -> tuple[str, Ticket]:
        """A new session's cookie value, and what it says."""
        ticket = Ticket(username, secrets.token_urlsafe(16), self._clock() + self._lifetime_s)
        data = {"u": ticket.username, "s": ticket.sid, "e": ticket.expires_at}
        payload = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
        return f"{payload}.{self._mac(b'session:' + payload.encode())}", ticket

    def read(self, value: str | None) -> Ticket | None:
        """The ticket a cookie carries, if it is signed with this key and not expired."""
        payload, _, mac = (value or "").partition(".")
        if not payload or not same_token(mac, self._mac(b"session:" + payload.encode())):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            ticket = Ticket(str(data["u"]), str(data["s"]), float(data["e"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        return ticket if ticket.expires_at > self._clock() else None

    def csrf(self, ticket: Ticket) -> str:
        """The CSRF token of one session."""
        return self._mac(b"csrf:" + ticket.sid.encode())

    @property
    def lifetime_s(self) -> float:
        """How long a session lasts."""
        return self._lifetime_s

    def _mac(self, data: bytes) -> str:
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()
