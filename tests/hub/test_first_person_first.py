"""An alarm's first person is told first, in a quiet home as in a burst.

The second person's request (Bob's SMS after Alice's push) waits until the first person's has
been answered, and no longer than the dispatcher's hold limit if it never is.
"""

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from hub.pipeline.inbox import Inbox
from hub.store.store import NewDevice, Store
from notifier.dispatcher import Dispatcher
from notifier.model import Delivery, OutboxEntry
from rules.engine import Engine
from rules.policy import Contact, RulesConfig
from tests.support.hubs import eventually
from tests.support.pipeline import bare_pipeline
from wire.schema import InboundMessage, event_topic

NOW = datetime(2026, 12, 7, 16, 20, tzinfo=UTC)


class _Provider:
    """An outbox channel that answers Alice only once `answer` is set (or never), Bob at once."""

    name = "outbox"

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.answer = asyncio.Event()

    async def send(self, entry: OutboxEntry) -> Delivery:
        self.asked.append(entry.contact)
        if entry.contact == "Alice":
            await self.answer.wait()
        return Delivery("sent", ref=str(entry.id))


async def _consuming(store: Store, dispatcher: Dispatcher) -> tuple[Inbox, asyncio.Task[None]]:
    """A quiet hub (nothing unread at the broker) with Alice and Bob told of every alarm."""
    pendant = NewDevice(
        "pendant-1", "pendant", "pendant", "Bedroom", "native", None, None, "config"
    )
    await store.register_devices([pendant], at=NOW)
    contacts = (Contact(name="Alice"), Contact(name="Bob"))
    pipeline = await bare_pipeline(
        Engine(RulesConfig(contacts=contacts)), store, dispatcher, lambda: NOW
    )
    inbox = Inbox(urgent=pipeline._intake.is_priority)
    inbox.throttle(pause=lambda: None, resume=lambda: None, unread=lambda: False)
    inbox.put_nowait(
        InboundMessage(
            event_topic("pendant-1"),
            json.dumps({"type": "pendant.pressed", "seq": 1}).encode(),
            qos=1,
            mid=1,
        )
    )
    return inbox, asyncio.create_task(pipeline.consume(inbox))


async def test_in_a_quiet_home_the_second_person_is_asked_once_the_first_is_answered(
    tmp_path: Path,
) -> None:
    channel = _Provider()
    async with (
        Store.open(tmp_path / "hub.db") as store,
        Dispatcher(store, {"outbox": channel}) as dispatcher,
    ):
        inbox, consuming = await _consuming(store, dispatcher)

        async def alice_asked() -> bool:
            return channel.asked == ["Alice"]

        await eventually(alice_asked)
        await asyncio.sleep(0.1)  # time enough for Bob's request, were it not waiting
        assert channel.asked == ["Alice"]
        channel.answer.set()

        async def bob_asked() -> bool:
            return channel.asked == ["Alice", "Bob"]

        await eventually(bob_asked)
        inbox.put_nowait(None)
        await consuming


async def test_a_first_provider_that_never_answers_holds_the_second_person_briefly(
    tmp_path: Path,
) -> None:
    channel = _Provider()  # Alice's provider hangs
    async with (
        Store.open(tmp_path / "hub.db") as store,
        Dispatcher(store, {"outbox": channel}) as dispatcher,
    ):
        inbox, consuming = await _consuming(store, dispatcher)

        async def bob_asked() -> bool:
            return channel.asked == ["Alice", "Bob"]

        await eventually(bob_asked)  # after the hold's limit, SECOND_HOLD_S
        channel.answer.set()
        inbox.put_nowait(None)
        await consuming
