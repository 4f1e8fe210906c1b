"""One payload scheme for the control topics: a topic per request, its body the request's fields.

A reload in the form of releases before it (`{"command": "reload_devices"}` on
`telecare/v1/hub/control`) may still wait in the hub's persistent session, so it is read as a
reload, counted and logged; anything else off the scheme is refused as `bad_control`.
"""

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.pipeline.intake import Intake
from hub.pipeline.pipeline import Pipeline
from hub.pipeline.rejections import RejectLog
from hub.store.store import NewDevice, Store
from notifier.channels.outbox import LocalOutbox
from notifier.dispatcher import Dispatcher
from rules.engine import Engine, EngineState
from rules.policy import Contact, RulesConfig
from wire.control import (
    ACK_TOPIC,
    CONTROL_TOPICS,
    OLD_RELOAD_BY,
    OLD_RELOAD_TOPIC,
    RELOAD_TOPIC,
    AckPayload,
    ReloadRequest,
    decode_control,
)
from wire.schema import InboundMessage

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
OLD_FORM = json.dumps({"command": "reload_devices"}).encode()


def test_every_request_has_a_topic_of_its_own_under_hub_control() -> None:
    assert {t.rsplit("/", 1)[-1] for t in CONTROL_TOPICS - {OLD_RELOAD_TOPIC}} == {
        "ack",
        "resolve",
        "occupancy",
        "reload",
    }
    assert decode_control(RELOAD_TOPIC, b'{"by": "telecare pair"}') == ReloadRequest(
        by="telecare pair"
    )
    assert decode_control(ACK_TOPIC, b'{"incident_id": "help_call-1", "by": "Alice"}') == (
        AckPayload(incident_id="help_call-1", by="Alice")
    )


def test_the_old_reload_is_read_as_a_reload_and_nothing_else_of_the_old_form() -> None:
    assert decode_control(OLD_RELOAD_TOPIC, OLD_FORM) == ReloadRequest(by=OLD_RELOAD_BY)
    refused = decode_control(OLD_RELOAD_TOPIC, b'{"command": "ack"}')
    assert isinstance(refused, str)
    assert refused.startswith("bad control request")
    # The old body on the new topic is not the scheme: refused, naming what is wrong.
    mixed = decode_control(RELOAD_TOPIC, OLD_FORM)
    assert isinstance(mixed, str)
    assert "bad control request" in mixed


async def _hub(store: Store, dispatcher: Dispatcher, rejects: RejectLog) -> Pipeline:
    return Pipeline(
        engine=Engine(RulesConfig(contacts=(Contact(name="Alice"),))),
        state=EngineState(),
        store=store,
        intake=Intake(await store.devices(), rejects),
        dispatcher=dispatcher,
        ack=lambda _m: None,
        publish=lambda topic, body, retain: None,
        clock=lambda: NOW,
    )


async def _register(store: Store) -> None:
    device = NewDevice("pendant-1", "pendant", "pendant", "Hall", "native", None, None, "paired")
    await store.register_devices([device], at=NOW)


@pytest.mark.parametrize(
    ("topic", "body", "old_forms"),
    [(RELOAD_TOPIC, b'{"by": "telecare devices"}', 0), (OLD_RELOAD_TOPIC, OLD_FORM, 1)],
)
async def test_a_reload_in_either_form_re_reads_the_registry(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    topic: str,
    body: bytes,
    old_forms: int,
) -> None:
    rejects = RejectLog()
    async with (
        Store.open(tmp_path / "hub.db") as store,
        Dispatcher(store, {"outbox": LocalOutbox()}) as dispatcher,
    ):
        pipeline = await _hub(store, dispatcher, rejects)
        await _register(store)  # paired while the hub runs
        with caplog.at_level(logging.INFO, logger="telecare.hub"):
            await pipeline.handle([InboundMessage(topic, body, qos=1, mid=3)])
        assert "pendant-1" in pipeline.engine.config.devices
    assert pipeline.old_control_forms == old_forms
    assert ("reload asked in the old form" in caplog.text) == bool(old_forms)
    assert rejects.counts["bad_control"] == 0


@pytest.mark.parametrize(
    "message",
    [
        InboundMessage(OLD_RELOAD_TOPIC, b'{"command": "reload"}', qos=1, mid=4),
        InboundMessage(RELOAD_TOPIC, OLD_FORM, qos=1, mid=5),
        InboundMessage(RELOAD_TOPIC, b'{"by": "telecare pair"}', qos=1, mid=6, retain=True),
    ],
    ids=["old-topic-other-command", "old-body-on-new-topic", "retained"],
)
async def test_anything_else_is_refused_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, message: InboundMessage
) -> None:
    rejects = RejectLog()
    async with (
        Store.open(tmp_path / "hub.db") as store,
        Dispatcher(store, {"outbox": LocalOutbox()}) as dispatcher,
    ):
        pipeline = await _hub(store, dispatcher, rejects)
        await _register(store)
        with caplog.at_level(logging.WARNING, logger="telecare.intake"):
            await pipeline.handle([message])
        assert "pendant-1" not in pipeline.engine.config.devices  # no reload
    assert rejects.counts["bad_control"] == 1
    assert "bad_control" in caplog.text
    assert pipeline.old_control_forms == 0
