"""What the engine lets a hub do is all the uplink needs, and reaches no other home's data."""

from datetime import UTC, datetime

import nats.errors
import pytest
from nats.js.errors import APIError

from tests.uplink.conftest import HUB_ID, OTHER_HUB
from tests.uplink.engine import Engine
from tests.uplink.test_resend import hub_connection
from wire.uplink import (
    DOWNLINK_STREAM,
    OperatorAction,
    downlink_consumer,
    downlink_subject,
    uplink_subject,
)


async def test_a_hub_publishes_only_under_its_own_name(engine: Engine) -> None:
    async with hub_connection(engine) as js:
        ack = await js.publish(uplink_subject(HUB_ID, "heartbeat"), b"{}", timeout=2)
        assert ack.stream == "UPLINK"
        with pytest.raises((nats.errors.Error, APIError)):
            await js.publish(uplink_subject(OTHER_HUB, "heartbeat"), b"{}", timeout=2)
    assert [m.subject for m in await engine.uplink()] == [uplink_subject(HUB_ID, "heartbeat")]


async def test_a_hub_cannot_read_another_homes_downlink(engine: Engine) -> None:
    action = OperatorAction(
        action_id="a-1",
        hub_id=OTHER_HUB,
        incident_id="help_call-1",
        action="accept",
        operator="Sam",
        at=datetime.now(UTC),
    )
    await engine.send_action(OTHER_HUB, action.model_dump_json().encode())
    async with hub_connection(engine) as js:
        theirs = await js.pull_subscribe_bind(
            consumer=downlink_consumer(OTHER_HUB), stream=DOWNLINK_STREAM
        )
        with pytest.raises(nats.errors.Error):
            await theirs.fetch(1, timeout=2)
        with pytest.raises(nats.errors.Error):
            await js.publish(downlink_subject(OTHER_HUB), b"{}", timeout=2)
        ours = await js.pull_subscribe_bind(
            consumer=downlink_consumer(HUB_ID), stream=DOWNLINK_STREAM
        )
        with pytest.raises(TimeoutError):  # allowed, and nothing there for us
            await ours.fetch(1, timeout=1)
