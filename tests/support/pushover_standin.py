"""A local stand-in for Pushover's message and receipts API, served over HTTP on loopback.

It implements the slice the hub uses, in Pushover's shape: `POST /1/messages.json` (form fields;
`{"status": 1, "request": ..., "receipt": ...}` for priority 2, `{"status": 0, "errors": [...]}`
with a 4xx for a bad token, user, or retry/expire), `GET /1/receipts/<receipt>.json?token=` and
`POST /1/receipts/<receipt>/cancel.json`. Each user's phone can be told to receive messages
after a delay, or never; a test plays the carer pressing "Acknowledge".
"""

import itertools
import secrets
import string
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.standins import _Server

APP_TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
ALICE_USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
BEN_USER = "gznej3rKEVAvPUxu9vvNnqpmZpokzF"
STRANGER_USER = "pQiRzpo4DXghDmr9QzzfQu27cmVRsX"
RETRY_MIN_S = 30
EXPIRE_MAX_S = 10800


@dataclass
class Message:
    """One message as the stand-in keeps it (times in Unix seconds)."""

    request: str
    form: dict[str, str]
    sent_at: float
    receipt: str | None = None
    deliver_after_s: float | None = 0.0
    acknowledged_by: str = ""
    acknowledged_at: int = 0
    cancelled: bool = False
    polls: list[float] = field(default_factory=list)

    @property
    def priority(self) -> int:
        """The priority it was sent at."""
        return int(self.form.get("priority", "0"))

    def delivered_at(self, now: float) -> int:
        """When a phone received it, 0 if none has yet."""
        if self.deliver_after_s is None:
            return 0
        at = self.sent_at + self.deliver_after_s
        return int(at) if now >= at else 0

    def expires_at(self) -> int:
        """When Pushover stops repeating it."""
        return int(self.sent_at + int(self.form.get("expire", "0")))


class PushoverStandIn(_Server):
    """Pushover's API for one application; every known user has one phone.

    Attributes:
        users: The valid user keys.
        delivery_delay_s: Per user, how long their phone takes to receive a message; None for
            a phone that never does (off, out of signal). Users not listed receive at once.
    """

    def __init__(self, users: tuple[str, ...] = (ALICE_USER, BEN_USER, STRANGER_USER)) -> None:
        super().__init__()
        self.users = set(users)
        self.delivery_delay_s: dict[str, float | None] = {}
        self.messages: list[Message] = []
        self._requests = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/1/messages.json", self._create)
        app.router.add_get("/1/receipts/{receipt}.json", self._receipt)
        app.router.add_post("/1/receipts/{receipt}/cancel.json", self._cancel)
        return app

    def to(self, user: str) -> list[Message]:
        """Messages sent to `user`, oldest first."""
        return [m for m in self.messages if m.form.get("user") == user]

    def by_receipt(self, receipt: str) -> Message:
        """The emergency with this receipt."""
        return next(m for m in self.messages if m.receipt == receipt)

    def acknowledge(self, receipt: str, user: str) -> None:
        """`user` presses "Acknowledge" on the emergency in the Pushover app."""
        message = self.by_receipt(receipt)
        message.acknowledged_by = user
        message.acknowledged_at = int(time.time())

    def backdate(self, receipt: str, seconds: float) -> None:
        """Make the emergency `seconds` older, as if sent that much earlier."""
        self.by_receipt(receipt).sent_at -= seconds

    async def _create(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        form = {k: str(v) for k, v in (await request.post()).items()}
        if (fault := await self._fault()) is not None:
            return fault
        if (refused := self._refusal(form)) is not None:
            return refused
        message = Message(
            request=self._request_id(),
            form=form,
            sent_at=time.time(),
            deliver_after_s=self.delivery_delay_s.get(form["user"], 0.0),
        )
        if message.priority == 2:  # emergency
            message.receipt = "".join(
                secrets.choice(string.ascii_letters + string.digits) for _ in range(30)
            )
        self.messages.append(message)
        body: dict[str, Any] = {"status": 1, "request": message.request}
        if message.receipt is not None:
            body["receipt"] = message.receipt
        return web.json_response(body)

    def _refusal(self, form: dict[str, str]) -> web.Response | None:
        if form.get("token") != APP_TOKEN:
            return self._error({"token": "invalid"}, "application token is invalid", 400)
        if form.get("user") not in self.users:
            why = "user identifier is not a valid user, group, or subuser identifier"
            return self._error({"user": "invalid"}, why, 400)
        if not form.get("message"):
            return self._error({"message": "cannot be blank"}, "message cannot be blank", 400)
        if form.get("priority") == "2":
            retry, expire = int(form.get("retry", "0")), int(form.get("expire", "0"))
            if retry < RETRY_MIN_S:
                return self._error({"retry": "invalid"}, "retry must be at least 30", 400)
            if not 0 < expire <= EXPIRE_MAX_S:
                why = "expire must be supplied with priority=2 and at most 10800"
                return self._error({"expire": "invalid"}, why, 400)
        return None

    async def _receipt(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("token") != APP_TOKEN:
            return self._error({"token": "invalid"}, "application token is invalid", 400)
        message = self._find(request.match_info["receipt"])
        if message is None:
            return self._error({"receipt": "not found"}, "receipt not found", 404)
        now = time.time()
        message.polls.append(now)
        expires_at = message.expires_at()
        return web.json_response(
            {
                "status": 1,
                "acknowledged": int(bool(message.acknowledged_by)),
                "acknowledged_at": message.acknowledged_at,
                "acknowledged_by": message.acknowledged_by,
                "acknowledged_by_device": "iphone" if message.acknowledged_by else "",
                "last_delivered_at": message.delivered_at(now),
                "expired": int(message.cancelled or now >= expires_at),
                "expires_at": expires_at,
                "called_back": 0,
                "called_back_at": 0,
                "request": self._request_id(),
            }
        )

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        form = await request.post()
        if form.get("token") != APP_TOKEN:
            return self._error({"token": "invalid"}, "application token is invalid", 400)
        message = self._find(request.match_info["receipt"])
        if message is None:
            return self._error({"receipt": "not found"}, "receipt not found", 404)
        message.cancelled = True
        return web.json_response({"status": 1, "request": self._request_id()})

    def _find(self, receipt: str) -> Message | None:
        return next((m for m in self.messages if m.receipt == receipt), None)

    def _request_id(self) -> str:
        return f"5042853c-402d-4a18-abcb-{next(self._requests):012d}"

    @staticmethod
    def _error(fields: dict[str, str], error: str, status: int) -> web.Response:
        body = {**fields, "errors": [error], "status": 0, "request": "e0000000-0000"}
        return web.json_response(body, status=status)
