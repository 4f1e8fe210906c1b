"""The stand-ins `bench.delivery` talks to, in a child process, and the decisions it makes.

Twilio, ntfy and Pushover stand-ins note each request's arrival (a shared counter and time) for
the latency figures. For the contact `FAILING`, Twilio reports each message undelivered and
each call not answered after a random delay, and her Pushover phone never receives anything:
the stand-ins note when each failure became there to be seen, and when the next path's request
(her ntfy push) arrived. The parent asks for those notes over `control` / `results`.
"""

import asyncio
import multiprocessing
import random
import re
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from hub.store.store import Batch
from rules.incidents import Incident, IncidentChanged, Notify
from rules.policy import Contact
from tests.support.pushover_standin import ALICE_USER, BEN_USER, PushoverStandIn
from tests.support.standins import NtfyStandIn, TwilioStandIn, ntfy_message, serving

FAILING = "Bea"
TWILIO_CALL_OUTCOMES = {"Vic": "completed", "Nia": "no-answer", "Bo": "busy"}
CONTACTS = {
    "Alice": Contact(
        name="Alice", phone="+447700900123", ntfy_topic="alice-phone", pushover_user=ALICE_USER
    ),
    FAILING: Contact(
        name=FAILING, phone="+447700900200", ntfy_topic="bea-phone", pushover_user=BEN_USER
    ),
    "Vic": Contact(name="Vic", phone="+447700900301"),
    "Nia": Contact(name="Nia", phone="+447700900302"),
    "Bo": Contact(name="Bo", phone="+447700900303"),
}
REPORT_DELAY_MAX_S = 10.0  # how late a carrier's "undelivered" or a call's end may come
PUSHOVER_WINDOW_S = 20.0  # the hub's default `[pushover] delivery_window_s`
_INCIDENT = re.compile(r"Alarm (\S+):")


class Arrivals:
    """Requests the stand-ins have seen: a count and the newest one's arrival time."""

    def __init__(self) -> None:
        self.count: Any = multiprocessing.Value("q", 0, lock=False)
        self.last_at: Any = multiprocessing.Value("d", 0.0, lock=False)

    def note(self) -> None:
        """A request has just arrived."""
        self.last_at.value = time.monotonic()
        self.count.value += 1


class Notes:
    """When each of the failing contact's deliveries failed, and when her next path was tried."""

    def __init__(self) -> None:
        self.failed_at: dict[str, float] = {}
        self.next_path: dict[str, float] = {}
        self.random = random.Random(21)

    def failure_in(self, text: str, delay_s: float) -> float:
        """Note that the delivery of `text`'s alarm fails `delay_s` from now; when that is."""
        at = time.monotonic() + delay_s
        self.failed_at[incident_of(text)] = at
        return at


def incident_of(text: str) -> str:
    """The incident an alert's text names."""
    found = _INCIDENT.search(text)
    return found.group(1) if found else ""


class BenchTwilio(TwilioStandIn):
    """Reports the failing contact's messages undelivered, and her calls unanswered, late."""

    def __init__(self, arrivals: Arrivals, notes: Notes) -> None:
        super().__init__()
        self._arrivals = arrivals
        self._notes = notes
        self._fails_at: dict[str, float] = {}
        self.call_outcome = {str(CONTACTS[n].phone): o for n, o in TWILIO_CALL_OUTCOMES.items()}

    def _note(self, request: web.Request) -> None:
        self._arrivals.note()

    async def _create_message(self, request: web.Request) -> web.StreamResponse:
        response = await super()._create_message(request)
        self._schedule(next(reversed(self.messages.values())))
        return response

    async def _create_call(self, request: web.Request) -> web.StreamResponse:
        response = await super()._create_call(request)
        self._schedule(next(reversed(self.calls.values())))
        return response

    def _schedule(self, sent: dict[str, Any]) -> None:
        if sent["to"] == CONTACTS[FAILING].phone:
            delay = self._notes.random.uniform(0, REPORT_DELAY_MAX_S)
            text = sent.get("body") or sent.get("twiml", "")
            self._fails_at[sent["sid"]] = self._notes.failure_in(text, delay)

    def _failed(self, sid: str) -> bool:
        return time.monotonic() >= self._fails_at.get(sid, float("inf"))

    async def _fetch_message(self, request: web.Request) -> web.StreamResponse:
        sid = request.match_info["sid"]
        if self._failed(sid):
            self.set_status(sid, "undelivered", error_code=30003)
        return await super()._fetch_message(request)

    async def _fetch_call(self, request: web.Request) -> web.StreamResponse:
        call = self.calls[request.match_info["sid"]]
        if self._failed(call["sid"]):
            call["status"] = "no-answer"
        return await super()._fetch_call(request)


class BenchNtfy(NtfyStandIn):
    """Notes when the failing contact's push (her next path) arrives."""

    def __init__(self, arrivals: Arrivals, notes: Notes) -> None:
        super().__init__()
        self._arrivals = arrivals
        self._notes = notes

    async def _publish(self, request: web.Request) -> web.StreamResponse:
        self._arrivals.note()
        arrived = time.monotonic()
        if request.match_info["topic"] == CONTACTS[FAILING].ntfy_topic:
            self._notes.next_path.setdefault(incident_of(await ntfy_message(request)), arrived)
        return await super()._publish(request)


class BenchPushover(PushoverStandIn):
    """The failing contact's phone never receives: each emergency fails once its window ends."""

    def __init__(self, arrivals: Arrivals, notes: Notes) -> None:
        super().__init__()
        self._arrivals = arrivals
        self._notes = notes
        self.delivery_delay_s[BEN_USER] = None

    def _note(self, request: web.Request) -> None:
        self._arrivals.note()

    async def _create(self, request: web.Request) -> web.StreamResponse:
        response = await super()._create(request)
        sent = self.messages[-1] if self.messages else None
        if sent is not None and sent.form.get("user") == BEN_USER and sent.receipt:
            self._notes.failure_in(sent.form["message"], PUSHOVER_WINDOW_S)
        return response


def serve_stand_ins(arrivals: Arrivals, urls: Any, control: Any, results: Any) -> None:
    """The child process: the stand-ins on one event loop, answering `control` until killed."""

    async def serve() -> None:
        notes = Notes()
        twilio, ntfy = BenchTwilio(arrivals, notes), BenchNtfy(arrivals, notes)
        pushover = BenchPushover(arrivals, notes)
        async with serving(twilio) as t, serving(ntfy) as n, serving(pushover) as p:
            urls.put({"twilio": t, "ntfy": n, "pushover": p})
            loop = asyncio.get_running_loop()
            while True:
                await loop.run_in_executor(None, control.get)
                results.put({"failed_at": notes.failed_at, "next_path": notes.next_path})

    asyncio.run(serve())


def decision(incident_id: str, contact: str, channel: str) -> Batch:
    """What the engine decides for one emergency: open it and tell `contact` on `channel`."""
    now = datetime.now(UTC)
    text = f"Alarm {incident_id}: Mum pressed her pendant."
    incident = Incident(
        id=incident_id,
        cause="pendant",
        severity="emergency",
        state="firing",
        device_id="pendant-1",
        opened_at=now,
        fired_at=now,
        text=text,
    )
    note = Notify.model_validate(
        {
            "key": f"{incident_id}/step0/{contact}/{channel}",
            "incident_id": incident_id,
            "severity": "emergency",
            "contact": contact,
            "channel": channel,
            "text": text,
            "at": now,
        }
    )
    change = IncidentChanged(incident=incident, previous=None, reason="bench", at=now)
    return Batch(actions=[change, note])
