"""Budgets count sends in the last hour and day, whatever order they are recorded in."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.store.rows import new_outbox_entry
from notifier.budget import Budget, Budgets
from notifier.model import OutboxEntry
from rules.incidents import Notify
from rules.policy import Channel

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class _NoHistory:
    async def delivery_times(self, since: datetime) -> list[tuple[str, str, datetime]]:
        return []


def _entry(channel: Channel = "sms") -> OutboxEntry:
    note = Notify(
        key="k",
        incident_id="i",
        severity="emergency",
        contact="Alice",
        channel=channel,
        text="t",
        at=NOW,
    )
    return new_outbox_entry(note, 1, NOW)


@settings(max_examples=200, deadline=None)
@given(
    ages_min=st.lists(st.integers(min_value=0, max_value=3 * 24 * 60), max_size=60),
    per_hour=st.integers(min_value=1, max_value=30),
    per_day=st.integers(min_value=1, max_value=60),
)
async def test_the_verdict_matches_a_plain_count(
    ages_min: list[int], per_hour: int, per_day: int
) -> None:
    budgets = Budgets(_NoHistory(), [Budget("SMS", ("sms", "whatsapp"), per_hour, per_day)])
    sent = [NOW - timedelta(minutes=m) for m in ages_min]
    for at in sent:  # recorded in any order (a clock step can reorder them)
        budgets.spend(_entry("whatsapp"), at=at)
    verdict = await budgets.exhausted(_entry(), now=NOW)
    in_hour = sum(1 for at in sent if at > NOW - timedelta(hours=1))
    in_day = sum(1 for at in sent if at > NOW - timedelta(days=1))
    if in_hour >= per_hour:
        assert verdict is not None
        assert f"{in_hour} SMS to Alice in the last hour" in verdict
    elif in_day >= per_day:
        assert verdict is not None
        assert f"{in_day} SMS to Alice in the last day" in verdict
    else:
        assert verdict is None
    assert await budgets.exhausted(_entry("voice"), now=NOW) is None, "calls have no budget here"


async def test_a_refund_gives_the_send_back() -> None:
    budgets = Budgets(_NoHistory(), [Budget("SMS", ("sms",), per_hour=1, per_day=1)])
    budgets.spend(_entry(), at=NOW)
    assert await budgets.exhausted(_entry(), now=NOW) is not None
    budgets.refund(_entry(), at=NOW)
    assert await budgets.exhausted(_entry(), now=NOW) is None
