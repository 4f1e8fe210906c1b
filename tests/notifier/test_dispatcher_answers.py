"""The hub's bulk work waits for an emergency's first request to be answered, within a bound."""

import asyncio
from datetime import UTC, datetime

from notifier.dispatcher import Dispatcher
from notifier.model import Delivery, OutboxEntry
from notifier.redelivery import Owed

NOW = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)


class _Held:
    """A channel whose provider answers only when told."""

    name = "sms"

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.asked = asyncio.Event()

    async def send(self, entry: OutboxEntry) -> Delivery:
        self.asked.set()
        await self.answer.wait()
        return Delivery("sent", ref="SM1")


class _Store:
    async def pending_notifications(self) -> list[OutboxEntry]:
        return []

    async def owed_notifications(self) -> Owed:
        return Owed()

    async def mark_notification(self, entry_id: int, delivery: Delivery, *, at: datetime) -> None:
        pass

    async def record_delivery(self, *args: object, **kwargs: object) -> None:
        pass

    async def add_notices(self, notes: object, *, at: datetime) -> list[OutboxEntry]:
        return []


def _entry(severity: str) -> OutboxEntry:
    return OutboxEntry.model_validate(
        {
            "id": 1,
            "key": "help_call-1/step0/Alice/sms",
            "incident_id": "help_call-1",
            "severity": severity,
            "contact": "Alice",
            "channel": "sms",
            "text": "Mum pressed the pendant.",
            "state": "pending",
            "created_at": NOW,
            "updated_at": NOW,
        }
    )


async def test_bulk_work_waits_for_an_emergencys_first_answer() -> None:
    channel = _Held()
    async with Dispatcher(_Store(), {"sms": channel}) as dispatcher:
        await dispatcher.emergencies_answered(0.01)  # nothing in flight: no wait
        dispatcher.submit([_entry("emergency")])
        await channel.asked.wait()
        waiting = asyncio.create_task(dispatcher.emergencies_answered(30))
        await asyncio.sleep(0.05)
        assert not waiting.done(), "the request is out but not answered"
        channel.answer.set()
        await asyncio.wait_for(waiting, 5)


async def test_a_provider_that_hangs_holds_bulk_work_back_only_briefly() -> None:
    channel = _Held()
    async with Dispatcher(_Store(), {"sms": channel}) as dispatcher:
        dispatcher.submit([_entry("emergency")])
        await channel.asked.wait()
        await asyncio.wait_for(dispatcher.emergencies_answered(0.05), 5)  # returns at its limit
        channel.answer.set()


async def test_a_new_alarm_ends_the_wait_for_an_earlier_one() -> None:
    channel = _Held()
    arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    async with Dispatcher(_Store(), {"sms": channel}) as dispatcher:
        dispatcher.submit([_entry("emergency")])
        await channel.asked.wait()
        waiting = asyncio.create_task(dispatcher.emergencies_answered(30, unless=arrived))
        await asyncio.sleep(0.05)
        assert not waiting.done(), "the first alarm's request is not answered yet"
        arrived.set_result(None)  # the next alarm must not wait behind the first one's provider
        await asyncio.wait_for(waiting, 5)
        channel.answer.set()
