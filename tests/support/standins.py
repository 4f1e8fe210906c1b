"""Local stand-ins for Twilio's REST API and an ntfy server, served over HTTP on loopback.

They implement the slice of each API the hub uses, check credentials the way the real services
do, and can be told to fail: a queue of faults is applied to the next requests that send, and
an outage (`outage`, while set) to every one.
"""

import asyncio
import base64
import itertools
import json
import threading
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from typing import Any

from aiohttp import web

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "stand-in-auth-token"
FROM_NUMBER = "+447700900999"
INVALID_NUMBER_CODE = 21211


@dataclass
class Fault:
    """What the stand-in does instead of its job for one request.

    Attributes:
        status: HTTP status to answer with (500, 429, 400 ...).
        retry_after: Value of a Retry-After header, if any.
        hang: Never answer (the client times out).
    """

    status: int = 500
    retry_after: str | None = None
    hang: bool = False


@dataclass
class _Server:
    faults: deque[Fault] = field(default_factory=deque)
    outage: Fault | None = None  # while set, every request that sends meets it
    requests: list[tuple[float, str, str]] = field(default_factory=list)
    first_request: asyncio.Event = field(default_factory=asyncio.Event)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    def _note(self, request: web.Request) -> None:
        self.requests.append((asyncio.get_running_loop().time(), request.method, request.path))
        self.first_request.set()

    async def _fault(self) -> web.Response | None:
        fault = self.outage
        if fault is None:
            if not self.faults:
                return None
            fault = self.faults.popleft()
        if fault.hang:
            await self.closing.wait()  # held until the client has given up and the test ends
        headers = {} if fault.retry_after is None else {"Retry-After": fault.retry_after}
        body = {"code": fault.status * 100, "message": f"stand-in fault {fault.status}"}
        return web.json_response(body, status=fault.status, headers=headers)


class TwilioStandIn(_Server):
    """Messages (create, list, fetch) and Calls (create, list) of Twilio's 2010-04-01 API.

    Where a message or call asked for a `StatusCallback`, the URL is kept by its sid, for tests
    that then play Twilio calling it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.messages: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        self.bad_numbers: set[str] = set()
        self.final_status: dict[str, tuple[str, int | None]] = {}
        self.call_outcome: dict[str, str] = {}  # number -> how its calls end ("no-answer" ...)
        self.hold_after_create = False
        self.status_callbacks: dict[str, str] = {}
        self.created = asyncio.Event()
        self._sids = itertools.count(1)

    def app(self) -> web.Application:
        base = f"/2010-04-01/Accounts/{ACCOUNT_SID}"
        app = web.Application(middlewares=[self._auth])
        app.router.add_post(f"{base}/Messages.json", self._create_message)
        app.router.add_get(f"{base}/Messages.json", self._list_messages)
        app.router.add_get(f"{base}/Messages/{{sid}}.json", self._fetch_message)
        app.router.add_post(f"{base}/Calls.json", self._create_call)
        app.router.add_get(f"{base}/Calls.json", self._list_calls)
        app.router.add_get(f"{base}/Calls/{{sid}}.json", self._fetch_call)
        return app

    def outbound(self, to: str | None = None) -> list[dict[str, Any]]:
        """Messages the hub sent, oldest first."""
        found = [m for m in self.messages.values() if m["direction"] == "outbound-api"]
        return [m for m in found if to is None or m["to"] == to]

    def receive(
        self, sender: str, body: str, *, to: str = FROM_NUMBER, at: datetime | None = None
    ) -> dict[str, Any]:
        """A message from a phone to the hub's number (`whatsapp:` for WhatsApp), now or at `at`."""
        return self._store_message(sender, to, body, "inbound", "received", at=at)

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        """The carrier's verdict on a message."""
        self.messages[sid].update(status=status, error_code=error_code)
        if error_code is not None:
            self.messages[sid]["error_message"] = f"carrier error {error_code}"

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        expected = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            body = {"code": 20003, "message": "Authentication Error", "status": 401}
            return web.json_response(body, status=401)
        response: web.StreamResponse = await handler(request)
        return response

    def _store_message(
        self, sender: str, to: str, body: str, direction: str, status: str, *, at: datetime | None
    ) -> dict[str, Any]:
        sid = f"SM{next(self._sids):032x}"
        now = at or datetime.now(UTC)
        message = {
            "sid": sid,
            "account_sid": ACCOUNT_SID,
            "from": sender,
            "to": to,
            "body": body,
            "status": status,
            "direction": direction,
            "error_code": None,
            "error_message": None,
            "date_created": now.strftime("%a, %d %b %Y %H:%M:%S +0000"),
            "date_sent": now.strftime("%a, %d %b %Y %H:%M:%S +0000"),
            "created": now,
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
        }
        self.messages[sid] = message
        return message

    async def _create_message(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        form = await request.post()
        if (fault := await self._fault()) is not None:
            return fault
        to = str(form["To"])
        if to.removeprefix("whatsapp:") in self.bad_numbers:
            body = {
                "code": INVALID_NUMBER_CODE,
                "message": f"The 'To' number {to} is not a valid phone number.",
                "more_info": "https://www.twilio.com/docs/errors/21211",
                "status": 400,
            }
            return web.json_response(body, status=400)
        sender, body_text = str(form["From"]), str(form["Body"])
        message = self._store_message(sender, to, body_text, "outbound-api", "queued", at=None)
        if "StatusCallback" in form:
            self.status_callbacks[message["sid"]] = str(form["StatusCallback"])
        self.created.set()
        if self.hold_after_create:
            await self.closing.wait()  # the hub dies before it hears the answer
        return web.json_response(_public(message), status=201)

    async def _list_messages(self, request: web.Request) -> web.StreamResponse:
        found = list(self.messages.values())
        query = request.query
        if "To" in query:
            found = [m for m in found if m["to"] == query["To"]]
        if "From" in query:
            found = [m for m in found if m["from"] == query["From"]]
        if "DateSent>" in query:
            since = datetime.fromisoformat(query["DateSent>"].replace("Z", "+00:00"))
            found = [m for m in found if m["created"] >= since.replace(microsecond=0)]
        found.sort(key=lambda m: m["created"], reverse=True)
        return web.json_response(_page("messages", [_public(m) for m in found], request.path))

    async def _fetch_message(self, request: web.Request) -> web.StreamResponse:
        message = self.messages.get(request.match_info["sid"])
        if message is None:
            body = {"code": 20404, "message": "The requested resource was not found", "status": 404}
            return web.json_response(body, status=404)
        final = self.final_status.get(message["to"].removeprefix("whatsapp:"))
        if final is not None:
            self.set_status(message["sid"], *final)  # the carrier's report has come in
        return web.json_response(_public(message))

    async def _create_call(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        form = await request.post()
        if (fault := await self._fault()) is not None:
            return fault
        sid = f"CA{next(self._sids):032x}"
        now = datetime.now(UTC)
        call = {
            "sid": sid,
            "to": str(form["To"]),
            "from": str(form["From"]),
            "twiml": str(form["Twiml"]),
            "status": "queued",
            "date_created": now.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        }
        self.calls[sid] = call
        if "StatusCallback" in form:
            self.status_callbacks[sid] = str(form["StatusCallback"])
        self.created.set()
        return web.json_response(call, status=201)

    async def _fetch_call(self, request: web.Request) -> web.StreamResponse:
        call = self.calls[request.match_info["sid"]]
        call["status"] = self.call_outcome.get(call["to"], call["status"])
        return web.json_response(call)

    async def _list_calls(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        found = [
            c
            for c in self.calls.values()
            if c["to"] == query.get("To", c["to"]) and c["from"] == query.get("From", c["from"])
        ]
        return web.json_response(_page("calls", found, request.path))


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "created"}


def _page(key: str, items: list[dict[str, Any]], uri: str) -> dict[str, Any]:
    return {key: items, "next_page_uri": None, "page": 0, "page_size": 50, "uri": uri}


async def ntfy_message(request: web.Request) -> str:
    """A publish's text as ntfy reads it: the body, else the `X-Message` header.

    As ntfy does, RFC 2047 words in the header are decoded and `\\n` is read as a new line.
    """
    body = await request.text()
    header = request.headers.get("X-Message")
    if body or not header:
        return body
    return str(make_header(decode_header(header))).replace("\\n", "\n")


class NtfyStandIn(_Server):
    """Publish (POST to a topic), clear (PUT .../clear) and subscribe (GET <topic>/json)."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__()
        self.token = token
        self.hold_after_publish = False
        self.published: list[dict[str, Any]] = []
        self.cleared: list[tuple[str, str]] = []
        self._ids = itertools.count(1)
        self._listeners: list[asyncio.Queue[dict[str, Any]]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/{topic}/json", self._subscribe)
        app.router.add_post("/{topic}", self._publish)
        app.router.add_put("/{topic}/{sequence}/clear", self._clear)
        return app

    def on_topic(self, topic: str) -> list[dict[str, Any]]:
        """Messages published to `topic`, oldest first."""
        return [m for m in self.published if m["topic"] == topic]

    def _authorised(self, request: web.Request) -> bool:
        return self.token is None or request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _publish(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        if not self._authorised(request):
            return web.json_response({"code": 40101, "error": "unauthorized"}, status=401)
        body = await ntfy_message(request)
        if (fault := await self._fault()) is not None:
            return fault
        message = {
            "id": f"m{next(self._ids)}",
            "time": int(datetime.now(UTC).timestamp()),
            "event": "message",
            "topic": request.match_info["topic"],
            "message": body,
            "headers": dict(request.headers),
        }
        self.published.append(message)
        for listener in self._listeners:
            listener.put_nowait(message)
        if self.hold_after_publish:
            await self.closing.wait()  # the hub dies before it hears the answer
        return web.json_response({k: v for k, v in message.items() if k != "headers"})

    async def _clear(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        if not self._authorised(request):
            return web.json_response({"code": 40101, "error": "unauthorized"}, status=401)
        self.cleared.append((request.match_info["topic"], request.match_info["sequence"]))
        return web.json_response({"event": "message_clear"})

    async def _subscribe(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return web.json_response({"code": 40101, "error": "unauthorized"}, status=401)
        topic = request.match_info["topic"]
        if request.query.get("poll") == "1":
            since = int(request.query.get("since", "0"))
            lines = [
                json.dumps({k: v for k, v in m.items() if k != "headers"})
                for m in self.on_topic(topic)
                if m["time"] >= since
            ]
            return web.Response(text="".join(f"{line}\n" for line in lines))
        response = web.StreamResponse()
        await response.prepare(request)
        opening = {"id": "open", "event": "open", "topic": topic, "time": 0}
        await response.write(json.dumps(opening).encode() + b"\n")
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._listeners.append(queue)
        try:
            while (message := await self._next(queue)) is not None:
                if message["topic"] == topic:
                    public = {k: v for k, v in message.items() if k != "headers"}
                    await response.write(json.dumps(public).encode() + b"\n")
        finally:
            self._listeners.remove(queue)
        return response

    async def _next(self, queue: asyncio.Queue[dict[str, Any]]) -> dict[str, Any] | None:
        """The next published message, or None once the stand-in is shutting down."""
        getting = asyncio.ensure_future(queue.get())
        closing = asyncio.ensure_future(self.closing.wait())
        done, pending = await asyncio.wait({getting, closing}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return getting.result() if getting in done else None


@asynccontextmanager
async def serving(server: _Server) -> AsyncIterator[str]:
    """Serve a stand-in on a free loopback port; yields its base URL."""
    runner = web.AppRunner(server.app(), handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    try:
        yield server.url
    finally:
        server.closing.set()
        await runner.cleanup()


class ThreadedStandIn:
    """A stand-in served from its own thread and event loop, for tests that block their own
    (waiting on a hub process) while the hub talks to the stand-in.
    """

    def __init__(self, server: _Server) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="stand-in", daemon=True)

    def __enter__(self) -> str:
        self._thread.start()
        if not self._ready.wait(10):
            msg = "stand-in did not start"
            raise RuntimeError(msg)
        return self.server.url

    def __exit__(self, *exc_info: object) -> None:
        stop = self._stop
        if stop is not None:
            self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        async def serve() -> None:
            self._stop = asyncio.Event()
            async with serving(self.server):
                self._ready.set()
                await self._stop.wait()

        self._loop.run_until_complete(serve())
        self._loop.close()


def twilio_toml(api_base: str) -> str:
    """The `[twilio]` section of a hub configuration that talks to the stand-in at `api_base`."""
    return f"""
[twilio]
account_sid = "{ACCOUNT_SID}"
auth_token = "{AUTH_TOKEN}"
from_number = "{FROM_NUMBER}"
api_base = "{api_base}"
timeout_s = 2
"""
