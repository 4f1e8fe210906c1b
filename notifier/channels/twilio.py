"""SMS, WhatsApp and voice calls through Twilio's official SDK (its asynchronous client).

The only module that touches the `twilio` SDK (and the aiohttp it runs on). Twilio's types and
exceptions stop here: callers see `Delivery`, `TransientError` and this module's own models.
The REST API base URL is configurable, so tests point the real SDK at a local stand-in.
"""

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal, Self, TypeVar
from urllib.parse import urlencode

import aiohttp
from pydantic import AwareDatetime, BaseModel, ConfigDict
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from notifier.model import Delivery, OutboxEntry, TransientError, retry_after_s
from notifier.settings import TwilioSettings
from rules.policy import Contact

log = logging.getLogger("telecare.notify.twilio")
TWILIO_API = "https://api.twilio.com"
HTTP_TOO_MANY = 429
HTTP_SERVER_ERROR = 500
ACK_HINT = "Reply OK if you are dealing with it."
VOICE_ACK_PROMPT = "Press 1 to say you are on your way."
FOUND_AFTER_RESTART = "found at Twilio after a restart"
RECONCILE_SLACK = timedelta(minutes=2)
TwilioKind = Literal["sms", "whatsapp", "voice"]
MessageStatus = Literal[
    "accepted",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "receiving",
    "received",
    "read",
    "canceled",
]
FAILED_STATUSES = frozenset({"undelivered", "failed", "canceled"})
# A call that nobody picked up did not reach the carer: its alert moves on like an undelivered SMS.
FAILED_CALL_STATUSES = frozenset({"busy", "no-answer", "failed", "canceled"})
HOOKS_PATH = "/hooks/twilio"
VOICE_HOOK = f"{HOOKS_PATH}/voice"
SMS_HOOK = f"{HOOKS_PATH}/sms"
STATUS_HOOK = f"{HOOKS_PATH}/status"
ENTRY_PARAM = "entry"
T = TypeVar("T")


class SentMessage(BaseModel):
    """A message as Twilio reports it (outbound or inbound)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    sid: str
    to: str
    sender: str
    body: str
    status: str
    direction: str = "outbound-api"
    error_code: int | None = None
    error_message: str | None = None
    created_at: AwareDatetime | None = None


class _BaseUrlHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The SDK's own aiohttp client, with the API base URL rewritten to the configured one.

    Credentials go in the Authorization header directly: the SDK would pass them through
    aiohttp's `BasicAuth`, which aiohttp now deprecates.
    """

    def __init__(self, api_base: str) -> None:
        # The SDK logs every request at INFO, numbers and alert texts included: keep that quiet.
        sdk_log = logging.getLogger("telecare.notify.twilio.sdk")
        sdk_log.setLevel(logging.WARNING)
        super().__init__(logger=sdk_log)
        self._api_base = api_base.rstrip("/")

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> Response:
        if url.startswith(TWILIO_API):
            url = self._api_base + url[len(TWILIO_API) :]
        headers = dict(headers or {})
        if auth is not None:
            pair = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {pair}"
        response: Response = await super().request(method, url, headers=headers, **kwargs)
        status = response.status_code
        if status == HTTP_TOO_MANY or status >= HTTP_SERVER_ERROR:
            after = retry_after_s((response.headers or {}).get("Retry-After"))
            raise TransientError(f"Twilio answered {status}", retry_after_s=after)
        return response


class TwilioGateway:
    """One Twilio account: sends, looks up and lists messages and calls."""

    def __init__(self, settings: TwilioSettings) -> None:
        self.settings = settings
        self._http = _BaseUrlHttpClient(settings.api_base)
        self._client = Client(
            settings.account_sid,
            settings.auth_token.get_secret_value(),
            http_client=self._http,
        )
        # The SDK loads each API's code on first use, some 50 ms on a loaded machine: not
        # during the first alarm's SMS or call.
        _ = (self._client.messages, self._client.calls)

    async def close(self) -> None:
        """Close the SDK's HTTP session."""
        await self._http.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def send_message(
        self, to: str, sender: str, body: str, *, status_callback: str | None = None
    ) -> Delivery:
        """Create a message; `to` and `sender` carry `whatsapp:` for WhatsApp.

        `status_callback` is where Twilio reports the message's fate, if anywhere.
        """
        create = self._client.messages.create_async
        callback = values.unset if status_callback is None else status_callback
        found = await self._call(
            lambda: create(to=to, from_=sender, body=body, status_callback=callback)
        )
        if isinstance(found, Delivery):
            return found
        return Delivery("sent", f"twilio status {found.status}", ref=found.sid)

    async def place_call(
        self, to: str, twiml: str, *, status_callback: str | None = None
    ) -> Delivery:
        """Start a voice call that speaks `twiml`; Twilio reports its end to `status_callback`."""
        create = self._client.calls.create_async
        callback = values.unset if status_callback is None else status_callback
        found = await self._call(
            lambda: create(
                to=to, from_=self.settings.from_number, twiml=twiml, status_callback=callback
            )
        )
        if isinstance(found, Delivery):
            return found
        return Delivery("sent", f"twilio call {found.status}", ref=found.sid)

    async def message(self, sid: str) -> SentMessage | Delivery:
        """A message's current state, or a failed Delivery if Twilio will not say."""
        fetch = self._client.messages(sid).fetch_async
        found = await self._call(fetch)
        return found if isinstance(found, Delivery) else _message(found)

    async def messages(self, *, to: str, sender: str | None, since: datetime) -> list[SentMessage]:
        """Messages to `to` (from `sender`, if given) since `since`; at most 100, newest first."""
        listing = self._client.messages.list_async
        from_ = values.unset if sender is None else sender
        found = await self._call(
            lambda: listing(to=to, from_=from_, date_sent_after=since, limit=100)
        )
        if isinstance(found, Delivery):
            raise TransientError(found.detail or "Twilio refused to list messages")
        return [_message(item) for item in found]

    async def replies(self, *, since: datetime) -> list[SentMessage]:
        """Inbound SMS (and WhatsApp, if a WhatsApp sender is set) since `since`, oldest first."""
        addresses = [self.settings.from_number]
        if self.settings.whatsapp_from is not None:
            addresses.append(f"whatsapp:{self.settings.whatsapp_from}")
        found = [
            message
            for address in addresses
            for message in await self.messages(to=address, sender=None, since=since)
            if message.direction.startswith("inbound")
        ]
        return sorted(found, key=lambda m: (m.created_at is None, m.created_at))

    async def calls_since(self, *, to: str, since: datetime) -> list[str]:
        """Sids of calls placed from the hub's number to `to` since `since`."""
        listing = self._client.calls.list_async
        found = await self._call(lambda: listing(to=to, from_=self.settings.from_number, limit=100))
        if isinstance(found, Delivery):
            raise TransientError(found.detail or "Twilio refused to list calls")
        return [c.sid for c in found if c.date_created is None or c.date_created >= since]

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T | Delivery:
        """Run one SDK request; permanent refusals come back as a failed Delivery.

        Raises:
            TransientError: timeouts, connection errors, 5xx and 429.
        """
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                return await request()
        except TimeoutError as err:
            raise TransientError("Twilio timed out") from err
        except aiohttp.ClientError as err:
            raise TransientError(f"Twilio unreachable: {err}") from err
        except TwilioRestException as err:
            return _refusal(err)
        except TwilioException as err:
            return Delivery("failed", f"Twilio: {err}")


def _refusal(err: TwilioRestException) -> Delivery:
    return Delivery("failed", f"Twilio error {err.code}: {err.msg}")


def _message(item: Any) -> SentMessage:
    return SentMessage(
        sid=item.sid,
        to=item.to or "",
        sender=item.from_ or "",
        body=item.body or "",
        status=item.status or "queued",
        direction=item.direction or "outbound-api",
        error_code=item.error_code,
        error_message=item.error_message,
        created_at=item.date_created,
    )


def webhook_signed(
    settings: TwilioSettings, url: str, params: Mapping[str, str], signature: str | None
) -> bool:
    """Whether a web hook request really comes from Twilio (its `X-Twilio-Signature`).

    Args:
        settings: The account whose auth token signs the requests.
        url: The full URL Twilio requested, as configured under `public_url`.
        params: The form fields of the POST.
        signature: The X-Twilio-Signature header; None when the request had none.
    """
    if not signature:
        return False
    validator = RequestValidator(settings.auth_token.get_secret_value())
    return bool(validator.validate(url, dict(params), signature))


def message_body(entry: OutboxEntry) -> str:
    """What an SMS or WhatsApp message says: the alert, and how to acknowledge it."""
    if entry.severity == "info":
        return entry.text
    return f"{entry.text} {ACK_HINT}"


def hook_url(public_url: str, path: str) -> str:
    """The address Twilio is given for one of the hub's hooks, under the configured public URL."""
    return public_url.rstrip("/") + path


def voice_twiml(entry: OutboxEntry, public_url: str | None, token: str | None = None) -> str:
    """The call: say the alert twice, then ask for 1 (heard by the hook when one is reachable).

    The key press is posted to the voice hook with `token` (the hub's signature over this
    outbox entry) in the URL, which Twilio's own signature then covers: the hook learns which
    alert, and so which incident and contact, the call was about from the hub itself.
    """
    response = VoiceResponse()
    action = None
    if public_url is not None and token is not None:
        action = f"{hook_url(public_url, VOICE_HOOK)}?{urlencode({ENTRY_PARAM: token})}"
    gather = response.gather(num_digits=1, timeout=10, action=action, method="POST")
    gather.say(f"This is the telecare hub. {entry.text}", language="en-GB")
    gather.say(VOICE_ACK_PROMPT, language="en-GB")
    response.say(f"Again: {entry.text}", language="en-GB")
    return str(response)


def voice_reply(text: str) -> str:
    """What the caller hears after pressing a key: `text`, then the call ends."""
    response = VoiceResponse()
    response.say(text, language="en-GB")
    response.hangup()
    return str(response)


def silent_reply() -> str:
    """An empty answer to an inbound message: Twilio sends nothing back."""
    return str(MessagingResponse())


def callback_verdict(form: Mapping[str, str]) -> Delivery | None:
    """A status callback's news about a message or call (its sid as `ref`); None in transit."""
    if sid := form.get("MessageSid"):
        status = form.get("MessageStatus", "")
        if status in FAILED_STATUSES:
            why = f"error {form.get('ErrorCode') or 'not given'}"
            return Delivery("failed", f"Twilio: {status}: {why}", ref=sid)
        return Delivery("delivered", ref=sid) if status in {"delivered", "read"} else None
    if sid := form.get("CallSid"):
        status = form.get("CallStatus", "")
        if status in FAILED_CALL_STATUSES:
            return Delivery("failed", f"Twilio: call {status}", ref=sid)
        return Delivery("delivered", "call answered", ref=sid) if status == "completed" else None
    return None


class TwilioChannel:
    """One of Twilio's three ways to reach a contact, on a shared gateway."""

    def __init__(
        self,
        kind: TwilioKind,
        gateway: TwilioGateway,
        contacts: Mapping[str, Contact],
        *,
        ack_token: Callable[[OutboxEntry], str] | None = None,
    ) -> None:
        self.name: str = kind
        self._kind = kind
        self._gateway = gateway
        self._contacts = contacts
        self._ack_token = ack_token

    def _status_callback(self) -> str | None:
        public_url = self._gateway.settings.public_url
        return None if public_url is None else hook_url(public_url, STATUS_HOOK)

    def _address(self, number: str) -> str:
        return f"whatsapp:{number}" if self._kind == "whatsapp" else number

    def _sender(self) -> str:
        settings = self._gateway.settings
        return self._address(settings.whatsapp_from or settings.from_number)

    async def send(self, entry: OutboxEntry) -> Delivery:
        """Send one entry as a message or a call.

        Raises:
            TransientError: the provider may take it if asked again.
        """
        contact = self._contacts.get(entry.contact)
        if contact is None or contact.phone is None:
            return Delivery("failed", f"{entry.contact} has no phone number")
        callback = self._status_callback()
        if self._kind == "voice":
            token = None if self._ack_token is None else self._ack_token(entry)
            twiml = voice_twiml(entry, self._gateway.settings.public_url, token)
            return await self._gateway.place_call(contact.phone, twiml, status_callback=callback)
        to = self._address(contact.phone)
        body = message_body(entry)
        return await self._gateway.send_message(to, self._sender(), body, status_callback=callback)

    async def find(self, entry: OutboxEntry, *, since: datetime) -> Delivery | None:
        """What an interrupted send left at Twilio: its delivery if it got there, else None."""
        contact = self._contacts.get(entry.contact)
        if contact is None or contact.phone is None:
            return None
        start = since - RECONCILE_SLACK
        if self._kind == "voice":
            calls = await self._gateway.calls_since(to=contact.phone, since=start)
            return (
                Delivery("sent", "found at Twilio after restart", ref=calls[0]) if calls else None
            )
        body = message_body(entry)
        found = await self._gateway.messages(
            to=self._address(contact.phone), sender=self._sender(), since=start
        )
        for message in found:
            if message.body == body:
                return Delivery("sent", FOUND_AFTER_RESTART, ref=message.sid)
        return None

    async def status(self, ref: str) -> Delivery | None:
        """A sent message's fate: delivered, failed (undelivered), or None while in transit."""
        if self._kind == "voice":
            return None
        found = await self._gateway.message(ref)
        if isinstance(found, Delivery):
            return found
        if found.status in FAILED_STATUSES:
            why = found.error_message or f"error {found.error_code}"
            return Delivery("failed", f"Twilio: {found.status}: {why}", ref=ref)
        if found.status in {"delivered", "read"}:
            return Delivery("delivered", ref=ref)
        return None
