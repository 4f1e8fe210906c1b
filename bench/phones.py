"""The carers' side: the ntfy and Twilio stand-ins in a child process, timing each notification.

Run as remote services would, so they do not compete with the benchmark for its interpreter
lock. Every request that sends something (an ntfy publish, a Twilio message) is reported as an
`Arrival`, stamped on the machine-wide monotonic clock the moment its handler starts.
"""

import asyncio
import multiprocessing
import queue
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.support.standins import NtfyStandIn, TwilioStandIn, ntfy_message, serving


@dataclass(frozen=True)
class Arrival:
    """One notification request as the provider saw it."""

    at: float
    channel: str  # "ntfy" or "sms"
    address: str  # the ntfy topic or the phone number
    text: str
    sequence: str | None = None  # ntfy's X-Sequence-ID: the incident id


class _Batched:
    """Arrivals handed to the parent in batches: a queue put per request cost the child's CPU
    (pickling, a pipe write), taken from the hub on a machine a burst keeps busy."""

    FLUSH_S = 0.01

    def __init__(self, out: Any) -> None:
        self._out = out
        self._pending: list[Arrival] = []

    def put(self, arrival: Arrival) -> None:
        if not self._pending:
            asyncio.get_running_loop().call_later(self.FLUSH_S, self._flush)
        self._pending.append(arrival)

    def _flush(self) -> None:
        taken, self._pending = self._pending, []
        self._out.put(taken)


class _TimedNtfy(NtfyStandIn):
    def __init__(self, out: Any) -> None:
        super().__init__()
        self._out = out

    async def _publish(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        text = await ntfy_message(request)  # aiohttp keeps the body for the stand-in's own read
        topic = request.match_info["topic"]
        sequence = request.headers.get("X-Sequence-ID")
        self._out.put(Arrival(at, "ntfy", topic, text, sequence))
        self.published.clear()  # keep the child's memory flat over long runs
        return await super()._publish(request)


class _TimedTwilio(TwilioStandIn):
    def __init__(self, out: Any) -> None:
        super().__init__()
        self._out = out

    async def _create_message(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        form = await request.post()
        self._out.put(Arrival(at, "sms", str(form["To"]), str(form["Body"])))
        return await super()._create_message(request)


def _serve(out: Any, urls: Any) -> None:
    async def serve() -> None:
        batched = _Batched(out)
        async with serving(_TimedNtfy(batched)) as ntfy, serving(_TimedTwilio(batched)) as twilio:
            urls.put((ntfy, twilio))
            await asyncio.Event().wait()

    asyncio.run(serve())


class Phones:
    """Both stand-ins in a child process; `ntfy_url` and `twilio_url` once entered."""

    def __init__(self) -> None:
        self._arrivals: Any = multiprocessing.Queue()
        self._urls: Any = multiprocessing.Queue()
        self._child = multiprocessing.Process(
            target=_serve, args=(self._arrivals, self._urls), daemon=True
        )
        self.ntfy_url = self.twilio_url = ""

    def __enter__(self) -> "Phones":
        self._child.start()
        self.ntfy_url, self.twilio_url = self._urls.get(timeout=30)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._child.terminate()
        self._child.join(10)

    def collect(self, *, quiet_s: float, limit_s: float) -> list[Arrival]:
        """Arrivals until none has come for `quiet_s` (or `limit_s` in all)."""
        found: list[Arrival] = []
        deadline = time.monotonic() + limit_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                found.extend(self._arrivals.get(timeout=min(quiet_s, left)))
            except queue.Empty:
                break
        return found
