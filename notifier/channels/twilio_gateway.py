"""Twilio's REST API through its official SDK (the asynchronous client): the account's gateway.

The only module that makes requests through the `twilio` SDK (and the aiohttp it runs on).
Twilio's types and exceptions stop here: callers see `Delivery`, `TransientError` and this
module's own models. The REST API base URL is configurable, so tests point the real SDK at a
local stand-in.
"""

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Self, TypeVar

import aiohttp
from pydantic import AwareDatetime, BaseModel, ConfigDict
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from notifier.model import Delivery, TransientError, retry_after_s
from notifier.settings import TwilioSettings

log = logging.getLogger("telecare.notify.twilio")
TWILIO_API = "https://api.twilio.com"
HTTP_TOO_MANY = 429
HTTP_SERVER_ERROR = 500
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

    async def call_status(self, sid: str) -> str | Delivery:
        """A call's current status (`queued` ... `completed`, `no-answer`), or a failed Delivery."""
        fetch = self._client.calls(sid).fetch_async
        found = await self._call(fetch)
        return found if isinstance(found, Delivery) else str(found.status or "queued")

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
