"""Push through ntfy: the carer installs the public ntfy app and subscribes to her topic.

The only module that talks to an ntfy server. An alarm goes at its severity's priority (an
emergency at 5, ntfy's max, tagged with a rotating light); news about it at the default priority.
Each incident is one notification on the phone: later steps and changes publish under the same
sequence id, which updates it in place, and `clear` dismisses it. After a crash, the topic is
polled for the message before it is published again. docs/PHONES.md says which phone settings
let it through Do Not Disturb.

The text goes in the `X-Message` header (RFC 2047-encoded where it is not plain ASCII; ntfy
2.4 and later decode it), not in a body: a request without a body is written to the socket by
the call that makes it, while aiohttp on Python 3.11 writes a body from a task of its own, which
runs only after everything else ready on the event loop (the SMS of the same alarm, say).
"""

import base64
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from notifier.channels.http import HTTP_CLIENT_ERROR, HTTP_OK, Pooled, Reply, request
from notifier.model import Delivery, OutboxEntry, TransientError, is_alarm
from notifier.settings import NtfySettings
from rules.policy import Contact, Severity

log = logging.getLogger("telecare.notify.ntfy")
# 5 is ntfy's "max": on Android a long vibration burst and a pop-over, and it is what the app's
# per-topic "override Do Not Disturb" and "insistent" (ring until dismissed) settings act on.
PRIORITY: dict[Severity, str] = {"emergency": "5", "urgent": "4", "info": "3"}
TAGS: dict[Severity, str] = {
    "emergency": "rotating_light,sos",
    "urgent": "warning",
    "info": "information_source",
}
# News about an alarm (who has it, that it is over) updates its notification without ringing
# through Do Not Disturb again.
NEWS_PRIORITY = "3"
NEWS_TAGS = "white_check_mark"
TITLE: dict[Severity, str] = {"emergency": "EMERGENCY", "urgent": "Urgent", "info": "For info"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

POLL_SLACK_S = 60  # clock difference tolerated between the hub and the server
SUBSCRIBE_READ_S = 120.0  # ntfy sends a keepalive every 45 s

AckBody = Callable[[OutboxEntry], str]


@dataclass(frozen=True, slots=True)
class NtfyMessage:
    """A message received on a subscribed topic."""

    id: str
    message: str


def header_text(text: str) -> str | None:
    """`text` as an `X-Message` header value, or None if it must go in the body.

    Plain printable ASCII goes as it is (unless spaces at its ends, which HTTP would drop);
    anything else as one RFC 2047 encoded word. ntfy reads a backslash followed by `n` in this
    header as a new line: such a text goes in the body.
    """
    if "\\n" in text:
        return None
    if text.isascii() and text.isprintable() and text == text.strip() and "=?" not in text:
        return text
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


def sequence_id(incident_id: str) -> str:
    """The ntfy sequence id of an incident's notification (ntfy allows letters, digits, - _)."""
    return _UNSAFE.sub("_", incident_id)[:64]


class NtfyChannel(Pooled):
    """Publishes outbox entries to each contact's ntfy topic, over one pooled HTTP session."""

    name = "ntfy"

    def __init__(
        self,
        settings: NtfySettings,
        contacts: Mapping[str, Contact],
        *,
        ack_body: AckBody | None = None,
    ) -> None:
        super().__init__(settings.timeout_s)
        self._settings = settings
        self._contacts = contacts
        self._ack_body = ack_body
        self._server = settings.server.rstrip("/")

    async def send(self, entry: OutboxEntry) -> Delivery:
        """Publish one entry as (or over) the incident's notification.

        Raises:
            TransientError: timeouts, connection errors, 5xx and 429.
        """
        topic = self._topic(entry.contact)
        if topic is None:
            return Delivery("failed", f"{entry.contact} has no ntfy_topic")
        alarm = is_alarm(entry) or entry.severity == "info"
        headers = {
            "X-Title": f"{TITLE[entry.severity]}: telecare",
            "X-Priority": PRIORITY[entry.severity] if alarm else NEWS_PRIORITY,
            "X-Tags": TAGS[entry.severity] if alarm else NEWS_TAGS,
            "X-Sequence-ID": sequence_id(entry.incident_id),
            **self._auth(),
        }
        actions = self._actions(entry)
        if actions:
            headers["X-Actions"] = actions
        body = None
        if (in_header := header_text(entry.text)) is None:
            body = entry.text.encode()
        else:
            headers["X-Message"] = in_header
        url = f"{self._server}/{topic}"
        return _outcome(await self._request("POST", url, headers, body))

    async def reachable(self, topic: str) -> None:
        """Read `topic` once, publishing nothing: the server answers and accepts the token.

        Raises:
            TransientError: naming what failed.
        """
        since = str(int(datetime.now(UTC).timestamp()) - 60)
        reply = await self._poll(topic, since, unreachable=f"ntfy unreachable at {self._server}")
        if reply.status != HTTP_OK:
            raise TransientError(f"ntfy refused to read {topic} ({reply.status})")

    async def find(self, entry: OutboxEntry, *, since: datetime) -> Delivery | None:
        """The earlier publish of `entry` if the server has it (checked after a restart).

        Raises:
            TransientError: the server could not be asked.
        """
        topic = self._topic(entry.contact)
        if topic is None:
            return None
        after = str(int(since.timestamp()) - POLL_SLACK_S)
        reply = await self._poll(topic, after, unreachable="ntfy unreachable")
        if reply.status != HTTP_OK:
            raise TransientError(f"ntfy would not list {topic} ({reply.status})")
        for line in reply.text.splitlines():
            message = _parse_line(line)
            if message is not None and message.message == entry.text:
                return Delivery("sent", "found on the ntfy server after a restart", ref=message.id)
        return None

    async def clear(self, incident_id: str, contact: str) -> Delivery:
        """Dismiss an incident's notification on a contact's phone (when it is over)."""
        topic = self._topic(contact)
        if topic is None:
            return Delivery("failed", f"{contact} has no ntfy_topic")
        url = f"{self._server}/{topic}/{sequence_id(incident_id)}/clear"
        return _outcome(await self._request("PUT", url, self._auth(), None))

    async def subscribe(
        self, topic: str, *, since: str | None = None
    ) -> AsyncIterator[NtfyMessage]:
        """Messages published to `topic`, as they arrive, over one outbound connection.

        Raises:
            TransientError: the connection failed or ended; subscribe again with `since`.
        """
        url = f"{self._server}/{topic}/json"
        params = {} if since is None else {"since": since}
        timeout = aiohttp.ClientTimeout(
            connect=self._settings.timeout_s, sock_read=SUBSCRIBE_READ_S
        )
        try:
            async with self._open().get(
                url, params=params, headers=self._auth(), timeout=timeout
            ) as response:
                if response.status != HTTP_OK:
                    msg = f"ntfy refused the subscription ({response.status})"
                    raise TransientError(msg)
                async for line in response.content:
                    message = _parse_line(line.decode(errors="replace"))
                    if message is not None:
                        yield message
        except (aiohttp.ClientError, TimeoutError) as err:
            raise TransientError(f"ntfy subscription lost: {err!r}") from err
        raise TransientError("ntfy closed the subscription")

    def _topic(self, contact: str) -> str | None:
        found = self._contacts.get(contact)
        return None if found is None else found.ntfy_topic

    def _auth(self) -> dict[str, str]:
        token = self._settings.token
        return {} if token is None else {"Authorization": f"Bearer {token.get_secret_value()}"}

    def _actions(self, entry: OutboxEntry) -> str:
        """Up to three buttons, in ntfy's short header form (`;` between actions)."""
        buttons: list[str] = []
        if self._settings.ack_topic and self._ack_body is not None and entry.severity != "info":
            ack_url = f"{self._server}/{self._settings.ack_topic}"
            body = self._ack_body(entry)
            buttons.append(f"http, I'm on it, {ack_url}, method=POST, body={body}, clear=true")
        if self._settings.home_phone:
            buttons.append(f"view, Call home, tel:{self._settings.home_phone}")
        if self._settings.dashboard_url:
            buttons.append(f"view, Open dashboard, {self._settings.dashboard_url}")
        return "; ".join(buttons[:3])

    async def _poll(self, topic: str, since: str, *, unreachable: str) -> Reply:
        """The messages cached on `topic` since `since`, in one answer (no stream)."""
        url = f"{self._server}/{topic}/json"
        params = {"poll": "1", "since": since}
        try:
            async with self._open().get(url, params=params, headers=self._auth()) as response:
                return Reply(response.status, await response.text(), None)
        except TimeoutError as err:
            raise TransientError(f"{unreachable}: timed out") from err
        except aiohttp.ClientError as err:
            raise TransientError(f"{unreachable}: {err!r}") from err

    async def _request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None
    ) -> Reply:
        return await request(self._open(), method, url, provider="ntfy", headers=headers, data=body)


def _parse_line(line: str) -> NtfyMessage | None:
    if not line.strip():
        return None
    try:
        data = json.loads(line)
    except ValueError:
        log.warning("ignoring a line ntfy sent that is not JSON")
        return None
    if not isinstance(data, dict) or data.get("event") != "message":
        return None  # open and keepalive events
    return NtfyMessage(id=str(data.get("id", "")), message=str(data.get("message", "")))


def _outcome(reply: Reply) -> Delivery:
    if reply.status >= HTTP_CLIENT_ERROR:
        message = reply.json_field("error")
        said = str(message) if message else reply.text[:200]
        return Delivery("failed", f"ntfy refused ({reply.status}): {said}")
    ref = reply.json_field("id")
    return Delivery("sent", ref=ref if isinstance(ref, str) else None)
