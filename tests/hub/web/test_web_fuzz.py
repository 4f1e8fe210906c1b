"""Hostile requests to every route of the dashboard and API: refused cleanly, counted by cause.

The routes are read from the app itself, so a route added later is fuzzed without a change here.
"""

import asyncio
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import BaseRoute, Mount, Route

from hub.web.auth import CSRF_HEADER, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Sessions
from hub.web.limits import CAUSES
from tests.support.reliability import record
from tests.support.web import Hub, open_hub
from webguard.limits import MAX_BODY_BYTES

EXAMPLES = 600
PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
LOGIN_REQUIRED = "http_login_required"


@dataclass(frozen=True)
class Endpoint:
    """One route as the app declares it: a path template and the methods it answers."""

    path: str
    methods: tuple[str, ...]


def endpoints(routes: list[BaseRoute], prefix: str = "") -> list[Endpoint]:
    """Every route of the app, through included routers, mounts (static files) included."""
    found = []
    for route in routes:
        if isinstance(route, Route):
            methods = tuple(sorted(route.methods or {"GET"}))
            found.append(Endpoint(prefix + route.path, methods))
        elif isinstance(route, Mount):
            found.append(Endpoint(prefix + route.path + "/{path}", ("GET",)))
        elif (included := getattr(route, "original_router", None)) is not None:
            # FastAPI keeps an included router whole and resolves its routes on demand.
            context = getattr(route, "include_context", None)
            found += endpoints(included.routes, prefix + getattr(context, "prefix", ""))
    return found


DEEP = "[" * 5000 + "]" * 5000
ODD_SEGMENTS = st.sampled_from(
    ["1", "-1", "0", "NaN", "..", "%2e%2e", "%00", "a" * 5000, "9" * 400, "é🙂", "%ff"]
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["x" * 70_000, "\u202e\u0000\ud7ff", "home", "away"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["text", "state", "passcode", "csrf", "x"]), inner)
    ),
    max_leaves=12,
)


def _json_text(value: Any) -> str:
    return json.dumps(value, allow_nan=True)


BODIES = st.one_of(
    st.none(),
    st.binary(max_size=300),
    JSON_VALUES.map(lambda v: _json_text(v).encode()),
    st.just(DEEP.encode()),
    st.just(b"x" * (MAX_BODY_BYTES + 1)),
    st.dictionaries(
        st.sampled_from(["passcode", "csrf", "text", "state", "days"]),
        st.text(max_size=40) | st.sampled_from(["-1", "NaN", "1e309", "y" * 3000]),
    ).map(lambda form: "&".join(f"{quote(k)}={quote(v)}" for k, v in form.items()).encode()),
)
CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=zz",
        "text/plain",
        "application/json; charset=ébad",
    ]
)
QUERIES = st.dictionaries(
    st.sampled_from(["days", "tested", "x"]),
    st.sampled_from(["-5", "0", "NaN", "1e999", "367", "7", "%00", "z" * 3000]) | st.text(),
    max_size=2,
)
WHO = st.sampled_from(["anonymous", "carer", "installer", "forged", "expired-looking"])
CSRF = st.sampled_from(["right", "wrong", "missing", "huge", "unicode"])


@dataclass
class Fuzzer:
    """Sends requests to the app and checks each answer against the reject counts."""

    hub: Hub
    sessions: dict[str, tuple[str, str]]
    tried: Counter[str]

    async def send(self, request: dict[str, Any]) -> httpx.Response:
        self.hub.client.cookies.clear()
        return await self.hub.client.request(**request)

    def check(self, response: httpx.Response, before: Counter[str]) -> None:
        after = self.hub.rejects.counts
        added = {c: after[c] - before[c] for c in after if after[c] != before[c]}
        code = response.status_code
        assert code < 500, f"{code}: {response.text[:300]}"
        if code >= 400:
            assert added == {CAUSES.get(code, f"http_{code}"): 1}, (code, added)
        elif added:
            assert added == {LOGIN_REQUIRED: 1}
            assert response.headers["location"] == "/login"
        self.tried["4xx" if code >= 400 else str(code // 100) + "xx"] += 1


def _path(template: str, values: list[str]) -> str:
    chosen = iter(values)
    return PARAM.sub(lambda _: quote(next(chosen, "1"), safe="%"), template)


def _headers(fuzzer: Fuzzer, who: str, csrf: str, content_type: str | None) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if content_type is not None:
        headers["content-type"] = content_type.encode()
    token, right = fuzzer.sessions.get(who, ("", ""))
    if who == "forged":
        token = "A" * 43
    elif who == "expired-looking":
        token = "\x7f;\u00e9=" * 20
    if who != "anonymous":
        headers["cookie"] = f"{SESSION_COOKIE}={token}; {LOGIN_CSRF_COOKIE}=abc".encode("latin-1")
    given = {"right": right, "wrong": "W" * 43, "huge": "h" * 9000, "unicode": "\u00e9\u00ff"}
    if csrf in given:
        headers[CSRF_HEADER] = given[csrf].encode("latin-1")
    return headers


@contextmanager
def running(workdir: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, Hub]]:
    """The dashboard app on its own event loop, so hypothesis can drive it example by example."""
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()
    try:
        hub = loop.run_until_complete(stack.enter_async_context(open_hub(workdir)))
        hub.ctx.feed.close()  # live streams end at once instead of waiting for changes
        yield loop, hub
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()


def _sessions(hub: Hub) -> dict[str, tuple[str, str]]:
    sessions: Sessions = hub.app.state.sessions
    opened: dict[str, tuple[str, str]] = {}
    for login in hub.ctx.settings.logins:
        session = sessions.start(login.name, login.role)
        opened[login.role] = (session.token, session.csrf)
    return opened


def test_every_route_survives_hostile_requests_and_counts_each_refusal(tmp_path: Path) -> None:
    with running(tmp_path) as (loop, hub):
        routes = endpoints(hub.app.routes)
        fuzzer = Fuzzer(hub, _sessions(hub), Counter())

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(
            endpoint=st.sampled_from(routes),
            method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]) | st.just("route"),
            segments=st.lists(ODD_SEGMENTS | st.text(max_size=20), max_size=3),
            body=BODIES,
            content_type=CONTENT_TYPES,
            query=QUERIES,
            who=WHO,
            csrf=CSRF,
        )
        def one_request(
            endpoint: Endpoint,
            method: str,
            segments: list[str],
            body: bytes | None,
            content_type: str | None,
            query: dict[str, str],
            who: str,
            csrf: str,
        ) -> None:
            request = {
                "method": endpoint.methods[0] if method == "route" else method,
                "url": _path(endpoint.path, segments),
                "params": query,
                "content": body,
                "headers": _headers(fuzzer, who, csrf, content_type),
            }
            before = Counter(hub.rejects.counts)
            response = loop.run_until_complete(fuzzer.send(request))
            fuzzer.check(response, before)

        one_request()

    tried = sum(fuzzer.tried.values())
    assert tried >= EXAMPLES
    assert {e.path for e in routes} >= {"/login", "/api/incidents/{incident_id}/ack", "/metrics"}
    assert fuzzer.tried["4xx"] > 0
    record(
        "fuzz",
        "HTTP: every route, anonymous and logged in",
        routes=len(routes),
        inputs=tried,
        refused_4xx=fuzzer.tried["4xx"],
        server_errors=0,
        crashes=0,
    )


async def _endless(chunk: bytes, sent: list[int]) -> AsyncIterator[bytes]:
    while True:
        sent[0] += 1
        yield chunk


async def test_a_streamed_body_over_the_limit_is_refused_without_reading_the_rest(
    hub: Hub,
) -> None:
    sent = [0]
    chunk = b"z" * 16_384
    response = await hub.client.post("/login", content=_endless(chunk, sent))
    assert response.status_code == 413
    assert sent[0] <= MAX_BODY_BYTES // len(chunk) + 2, "the rest of the body was never read"
    assert hub.rejects.counts["http_body_too_large"] == 1
    record(
        "fuzz",
        "HTTP: endless streamed body",
        read_bytes=sent[0] * len(chunk),
        limit_bytes=MAX_BODY_BYTES,
        status=response.status_code,
    )


async def test_a_declared_length_over_the_limit_is_refused_before_any_body(hub: Hub) -> None:
    headers = {"content-length": str(10**12), "content-type": "application/json"}
    response = await hub.client.post("/api/occupancy", content=b"{}", headers=headers)
    assert response.status_code == 413
    assert "at most 65536 bytes" in response.text
    assert hub.rejects.counts == Counter({"http_body_too_large": 1})


async def test_a_body_within_the_limit_still_reaches_the_route(hub: Hub) -> None:
    sessions: Sessions = hub.app.state.sessions
    alice = hub.ctx.settings.logins[0]
    carer = sessions.start(alice.name, alice.role)
    hub.client.cookies.set(SESSION_COOKIE, carer.token)
    body = json.dumps({"state": "home"}).encode() + b" " * (MAX_BODY_BYTES - 20)
    response = await hub.client.post(
        "/api/occupancy",
        content=body,
        headers={CSRF_HEADER: carer.csrf, "content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert [(p["name"], p["state"]) for p in response.json()] == [("Alice", "home")]


async def test_metrics_show_web_refusals_by_cause(hub: Hub) -> None:
    await hub.client.get("/api/status")
    await hub.client.get("/")
    response = await hub.client.get("/metrics")
    assert 'telecare_dropped_inputs_total{cause="http_not_logged_in"} 1' in response.text
    assert 'telecare_dropped_inputs_total{cause="http_login_required"} 1' in response.text
