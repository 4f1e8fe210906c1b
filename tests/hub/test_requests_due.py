"""A carer's request runs the engine's due timers first: what fell due is sent, whatever it did."""

from datetime import datetime
from pathlib import Path

from hub.store.store import NewDevice, Store
from notifier.channels.outbox import LocalOutbox
from notifier.dispatcher import Dispatcher
from rules.engine import Engine
from rules.policy import EscalationPlan
from tests.support.pipeline import bare_pipeline
from tests.support.rules import DEVICES, clock, home, later
from wire.schema import InboundMessage, event_topic

START = clock("09:30")
LADDER = EscalationPlan.model_validate(
    {
        "steps": [
            {"contact": "Alice", "channel": "outbox", "after_s": 0},
            {"contact": "Bob", "channel": "outbox", "after_s": 180},
        ]
    }
)


async def _told(store: Store, incident_id: str) -> list[str]:
    return [
        e.contact
        for e in await store.notifications(incident_id=incident_id)
        if e.severity != "info"
    ]


async def test_a_step_due_when_an_incident_is_accepted_twice_is_still_sent(tmp_path: Path):
    moment = [START]
    async with Store.open(tmp_path / "hub.db") as store:
        await store.register_devices(
            [
                NewDevice(
                    d,
                    DEVICES[d].name,
                    DEVICES[d].role,
                    DEVICES[d].room,
                    "native",
                    None,
                    None,
                    "config",
                )
                for d in ("pendant-1", "smoke-1")
            ],
            at=START,
        )
        async with Dispatcher(store, {"outbox": LocalOutbox()}) as dispatcher:
            engine = Engine(home(escalation={"emergency": LADDER}))
            pipeline = await bare_pipeline(engine, store, dispatcher, lambda: moment[0])

            async def send(device: str, kind: str, at: datetime) -> None:
                moment[0] = at
                body = f'{{"type": "{kind}"}}'.encode()
                await pipeline.handle([InboundMessage(event_topic(device), body, 1, 1)])

            await send("pendant-1", "pendant.pressed", START)
            press = next(i.id for i in pipeline.state.open.values() if i.cause == "help_call")
            moment[0] = later(START, s=30)
            assert await pipeline.acknowledge(press, "Alice")
            await send("smoke-1", "smoke.detected", later(START, s=60))
            smoke = next(i.id for i in pipeline.state.open.values() if i.cause != "help_call")
            # Bob's step for the smoke is due at 09:34; the hub's timer has not run it yet when
            # Alice's second tap on "accept" for the press comes in, at 09:35.
            moment[0] = later(START, m=5)
            assert not await pipeline.acknowledge(press, "Alice")
            await dispatcher.drain()
            assert await _told(store, smoke) == ["Alice", "Bob"]
