"""Retrying a send: the first try made outside stamina counts as one of the policy's tries."""

import pytest

from notifier.model import TransientError
from notifier.retrying import RetryPolicy, with_retries

QUICK = RetryPolicy(attempts=3, wait_initial_s=0.001, wait_max_s=0.002, wait_jitter_s=0.0)


class Provider:
    """Fails the first `failures` sends, then takes them."""

    def __init__(self, failures: int, *, retry_after_s: float | None = None) -> None:
        self.failures = failures
        self.retry_after_s = retry_after_s
        self.calls = 0

    async def send(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise TransientError(f"busy ({self.calls})", retry_after_s=self.retry_after_s)
        return f"sent on try {self.calls}"


async def test_a_send_that_works_is_made_once() -> None:
    provider = Provider(failures=0)

    assert await with_retries(QUICK, "emergency", provider.send) == "sent on try 1"
    assert provider.calls == 1


@pytest.mark.parametrize("failures", [1, 2])
async def test_transient_failures_are_tried_again_within_the_attempts(failures: int) -> None:
    provider = Provider(failures=failures, retry_after_s=0.001)

    assert await with_retries(QUICK, "urgent", provider.send) == f"sent on try {failures + 1}"
    assert provider.calls == failures + 1


async def test_the_first_try_counts_towards_the_attempts() -> None:
    provider = Provider(failures=5)

    with pytest.raises(TransientError, match=r"busy \(3\)"):
        await with_retries(QUICK, "emergency", provider.send)
    assert provider.calls == QUICK.attempts


async def test_a_policy_of_one_attempt_does_not_retry() -> None:
    provider = Provider(failures=1)
    once = RetryPolicy(attempts=1)

    with pytest.raises(TransientError, match=r"busy \(1\)"):
        await with_retries(once, "emergency", provider.send)
    assert provider.calls == 1


async def test_other_errors_are_not_retried() -> None:
    calls = 0

    async def broken() -> str:
        nonlocal calls
        calls += 1
        raise ValueError("a bug, not a busy provider")

    with pytest.raises(ValueError, match="a bug"):
        await with_retries(QUICK, "emergency", broken)
    assert calls == 1
