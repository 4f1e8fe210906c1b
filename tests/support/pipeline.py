"""A pipeline on a real store and dispatcher, nothing behind MQTT: requests and events fed in."""

from collections.abc import Callable
from datetime import datetime

from hub.pipeline.intake import Intake
from hub.pipeline.pipeline import Pipeline
from hub.pipeline.rejections import RejectLog
from hub.store.store import Store
from notifier.dispatcher import Dispatcher
from rules.engine import Engine, EngineState


async def bare_pipeline(
    engine: Engine, store: Store, dispatcher: Dispatcher, clock: Callable[[], datetime]
) -> Pipeline:
    """The hub's pipeline on `store`'s registered devices; acks and publishes go nowhere."""
    return Pipeline(
        engine=engine,
        state=EngineState(),
        store=store,
        intake=Intake(await store.devices(), RejectLog()),
        dispatcher=dispatcher,
        ack=lambda message: None,
        publish=lambda topic, body, retain: None,
        clock=clock,
    )
