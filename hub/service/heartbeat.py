"""The hub's dead-man switch: a periodic ping to an outside URL while all is well.

If the hub dies, loses power or loses its broker, the pings stop and the outside service (a
healthchecks-style monitor or an ntfy topic) tells someone. Nothing but the ping leaves the home.
"""

import asyncio
import logging
from collections.abc import Callable

import aiohttp

from hub.config.sections import HeartbeatSettings

log = logging.getLogger("telecare.hub")
PING_TIMEOUT_S = 10.0
HTTP_CLIENT_ERROR = 400


async def ping_forever(settings: HeartbeatSettings, healthy: Callable[[], bool]) -> None:
    """Ping `settings.url` every `interval_s` seconds while `healthy()` holds."""
    if settings.url is None:
        return
    url = str(settings.url)
    failing = False
    timeout = aiohttp.ClientTimeout(total=PING_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as client:
        while True:
            if healthy():
                error = await _ping(client, url)
                if error is not None and not failing:
                    log.warning("heartbeat to %s failing: %s", url, error)
                elif error is None and failing:
                    log.info("heartbeat to %s reaches it again", url)
                failing = error is not None
            await asyncio.sleep(settings.interval_s)


async def _ping(client: aiohttp.ClientSession, url: str) -> str | None:
    try:
        async with client.get(url) as response:
            await response.read()
    except (aiohttp.ClientError, TimeoutError) as err:
        return str(err) or type(err).__name__
    if response.status >= HTTP_CLIENT_ERROR:
        return f"HTTP {response.status}"
    return None
