"""One HTTP request to a push provider, over aiohttp, with its failures sorted.

Shared by the channels that speak to a provider's plain HTTP API (ntfy, Pushover): what may
succeed if asked again (a timeout, a connection error, 429, a 5xx) is a `TransientError`;
anything else comes back as the provider's answer, read in full while the connection is held.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from notifier.model import TransientError, retry_after_s

HTTP_OK = 200
HTTP_CLIENT_ERROR = 400
HTTP_TOO_MANY = 429
HTTP_SERVER_ERROR = 500


class Pooled:
    """An HTTP connection pool, opened on first use (inside the running loop), closed once."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session


@dataclass(frozen=True, slots=True)
class Reply:
    """What the server answered."""

    status: int
    text: str
    retry_after: str | None

    def json(self) -> dict[str, object]:
        """The body as a JSON object; empty if it is not one."""
        try:
            data = json.loads(self.text)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def json_field(self, name: str) -> object:
        """One field of the body's JSON object, None if absent or not JSON."""
        return self.json().get(name)


async def request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    provider: str,
    headers: Mapping[str, str] | None = None,
    data: bytes | Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> Reply:
    """Make one request; `provider` names the service in errors.

    Raises:
        TransientError: timeouts, connection errors, 429 (with its Retry-After) and 5xx.
    """
    try:
        async with session.request(
            method, url, headers=headers, data=data, params=params
        ) as response:
            reply = Reply(
                response.status, await response.text(), response.headers.get("Retry-After")
            )
    except TimeoutError as err:
        raise TransientError(f"{provider} timed out: {type(err).__name__}") from err
    except aiohttp.ClientError as err:
        raise TransientError(f"{provider} unreachable: {err}") from err
    if reply.status == HTTP_TOO_MANY:
        after = retry_after_s(reply.retry_after)
        raise TransientError(f"{provider}: too many requests (429)", retry_after_s=after)
    if reply.status >= HTTP_SERVER_ERROR:
        raise TransientError(f"{provider} server error {reply.status}")
    return reply
