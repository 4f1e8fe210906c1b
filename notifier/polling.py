"""Asking a provider again and again, and saying so only when that starts or stops working."""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from notifier.model import TransientError


async def poll_forever(
    once: Callable[[], Awaitable[object]],
    *,
    interval_s: float,
    log: logging.Logger,
    failing: str,
    recovered: str,
) -> None:
    """Run `once` every `interval_s`; log `failing` (with the error) and `recovered` on changes."""
    reachable = True
    while True:
        try:
            await once()
        except TransientError as err:
            if reachable:
                log.warning("%s: %s", failing, err.detail)
            reachable = False
        else:
            if not reachable:
                log.info("%s", recovered)
            reachable = True
        await asyncio.sleep(interval_s)
