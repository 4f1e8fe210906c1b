"""Retrying transient failures with jittered exponential backoff (through `stamina`).

A provider's `Retry-After` is honoured, capped at the policy's longest wait so that a provider
cannot park an alarm for minutes: when the time budget runs out the entry fails over instead.

The first try is made before stamina is asked: setting up its retry loop costs some 40 µs,
which every alarm's request would otherwise wait for. Only a failed first try enters the loop,
which is then told of that failure first, so the waits and the count are as if it had made it.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import stamina

from notifier.model import TransientError
from rules.policy import Severity

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try one channel before failing over.

    Attributes:
        attempts: Tries in all, the first included.
        timeout_s: Total time for all tries of a routine notification.
        emergency_timeout_s: Total time for an emergency: shorter, because the next channel
            is a better bet than waiting on this one.
        wait_initial_s: First backoff; it doubles each time, up to `wait_max_s`.
        wait_max_s: Longest single wait, also the cap on a provider's Retry-After.
        wait_jitter_s: Random extra wait, so retries from many hubs do not march in step.
    """

    attempts: int = 6
    timeout_s: float = 300.0
    emergency_timeout_s: float = 45.0
    wait_initial_s: float = 0.5
    wait_max_s: float = 20.0
    wait_jitter_s: float = 1.0

    def backoff(self, err: BaseException) -> bool | float:
        """Stamina's hook: retry transient errors, after the provider's Retry-After if given."""
        if not isinstance(err, TransientError):
            return False
        if err.retry_after_s is None:
            return True
        return min(err.retry_after_s, self.wait_max_s)


async def with_retries(
    policy: RetryPolicy, severity: Severity, send: Callable[[], Awaitable[T]]
) -> T:
    """Run `send`, retrying it on `TransientError` as the policy allows.

    Raises:
        TransientError: the last failure, once the attempts or the time budget are spent.
    """
    started = time.monotonic()
    try:
        return await send()
    except TransientError as err:
        first: list[TransientError] = [err]
    timeout = policy.emergency_timeout_s if severity == "emergency" else policy.timeout_s
    left = timeout - (time.monotonic() - started)
    if policy.attempts <= 1 or left <= 0:
        raise first[0]

    async def again() -> T:
        if first:  # the first try, already made: its failure starts the loop
            raise first.pop()
        return await send()

    async for attempt in stamina.retry_context(
        on=policy.backoff,
        attempts=policy.attempts,
        timeout=left,
        wait_initial=policy.wait_initial_s,
        wait_max=policy.wait_max_s,
        wait_jitter=policy.wait_jitter_s,
    ):
        with attempt:
            return await again()
    msg = "stamina ended without a result or an error"
    raise AssertionError(msg)
