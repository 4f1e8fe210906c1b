"""Operator actions from the centre: an accept stops the ladder and tells the family, once; a
resolve closes the incident; a forged action is refused and counted; every outcome is reported.
"""

import json
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nats.js.client import JetStreamContext

from hub.config.file import HubConfig
from hub.mqtt.broker import LocalBroker
from hub.pipeline.rejections import RejectLog
from hub.store.store import Store
from rules.incidents import Incident
from tests.support.hubs import device_client, eventually, running_hub
from tests.support.standins import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, TwilioStandIn, serving
from tests.uplink.conftest import HUB_ID, HUB_KEY
from tests.uplink.engine import Engine
from tests.uplink.hubs import reporting_hub
from wire.schema import CommandPayload, command_topic, event_topic
from wire.uplink import ActionApplied, OperatorAction, signed

PullSubscription = JetStreamContext.PullSubscription
KEY = bytes.fromhex(HUB_KEY)
ALICE, BEN = "+447700900123", "+447700900456"


def _action(
    incident_id: str, action_id: str, kind: str = "accept", *, key: bytes = KEY, **more: Any
) -> bytes:
    action = OperatorAction(
        action_id=action_id,
        hub_id=HUB_ID,
        incident_id=incident_id,
        action=kind,  # type: ignore[arg-type]
        operator="Sam",
        at=datetime.now(UTC),
        **more,
    )
    return signed(action, key).model_dump_json().encode()


def _home(broker: LocalBroker, tmp_path: Path, engine: Engine, twilio_url: str) -> HubConfig:
    return reporting_hub(
        broker,
        tmp_path,
        engine,
        contacts=[{"name": "Alice", "phone": ALICE}, {"name": "Ben", "phone": BEN}],
        twilio={
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from_number": FROM_NUMBER,
            "api_base": twilio_url,
        },
        escalation={
            "emergency": {
                "steps": [
                    {"contact": "Alice", "channel": "sms", "after_s": 0},
                    {"contact": "Ben", "channel": "sms", "after_s": 600},
                ]
            }
        },
    )


async def _alerted(config: HubConfig, twilio: TwilioStandIn) -> Incident:
    """The one incident of the home, once Alice has been sent its alert."""

    async def alice_alerted() -> bool:
        return bool(twilio.outbound(to=ALICE))

    await eventually(alice_alerted)
    async with Store.open(config.store.path, readonly=True) as store:
        [incident] = await store.incidents()
    return incident


async def _pressed(
    stack: AsyncExitStack,
    broker: LocalBroker,
    tmp_path: Path,
    engine: Engine,
    twilio: TwilioStandIn,
) -> tuple[HubConfig, Incident]:
    """A running hub whose pendant was pressed, once Alice has its alert."""
    config = _home(broker, tmp_path, engine, await stack.enter_async_context(serving(twilio)))
    await stack.enter_async_context(running_hub(config))
    device = await stack.enter_async_context(device_client(broker))
    await device.publish(event_topic("pendant-1"), json.dumps({"type": "pendant.pressed"}))
    return config, await _alerted(config, twilio)


async def _reports(engine: Engine) -> list[ActionApplied]:
    return [e.body for e in await engine.envelopes() if isinstance(e.body, ActionApplied)]


async def test_an_accept_stops_the_ladder_tells_the_family_and_reassures_once(
    broker: LocalBroker, tmp_path: Path, engine: Engine
) -> None:
    twilio = TwilioStandIn()
    rejects = RejectLog()
    async with AsyncExitStack() as stack:
        config = _home(broker, tmp_path, engine, await stack.enter_async_context(serving(twilio)))
        rejects = await stack.enter_async_context(running_hub(config))
        device = await stack.enter_async_context(device_client(broker))
        await device.subscribe(command_topic("pendant-1"), qos=1)
        await device.publish(event_topic("pendant-1"), json.dumps({"type": "pendant.pressed"}))

        incident = await _alerted(config, twilio)
        forged = _action(incident.id, "act-forged", key=bytes(32))
        await engine.send_action(HUB_ID, forged)
        accept = _action(incident.id, "act-1")
        await engine.send_action(HUB_ID, accept)
        await engine.send_action(HUB_ID, accept)  # the same action again: carried out once

        async def reported() -> bool:
            return [r.action_id for r in await _reports(engine)] == ["act-1"]

        await eventually(reported)
        reassurance = await anext(aiter(device.messages))
        async with Store.open(config.store.path, readonly=True) as store:
            accepted = await store.incident(incident.id)
        await engine.send_action(HUB_ID, _action(incident.id, "act-2"))

        async def second_reported() -> bool:
            return len(await _reports(engine)) == 2

        await eventually(second_reported)

    assert accepted is not None
    assert accepted.state == "acknowledged"
    assert accepted.acknowledged_by == "Sam at the monitoring centre"
    assert CommandPayload.model_validate_json(bytes(reassurance.payload)).command == "reassure"
    [first, second] = await _reports(engine)
    assert (first.applied, first.incident_id) == (True, incident.id)
    assert (second.applied, second.detail) == (True, "already accepted")
    texts = [m["body"] for m in twilio.outbound(to=ALICE)]
    assert texts[-1].startswith("Sam at the monitoring centre is handling it")
    assert len(texts) == 2  # the alert, then who took it: nothing more
    assert not twilio.outbound(to=BEN), "the ladder stopped before Ben's step"
    assert rejects.counts["centre_forged"] == 1


async def test_a_resolve_closes_the_incident_and_an_unknown_one_is_refused(
    broker: LocalBroker, tmp_path: Path, engine: Engine
) -> None:
    twilio = TwilioStandIn()
    async with AsyncExitStack() as stack:
        config, incident = await _pressed(stack, broker, tmp_path, engine, twilio)
        await engine.send_action(HUB_ID, _action("help_call-404", "act-unknown"))
        resolve = _action(incident.id, "act-resolve", "resolve", note="Spoke to her: a slip")
        await engine.send_action(HUB_ID, resolve)

        async def both_reported() -> bool:
            return len(await _reports(engine)) == 2

        await eventually(both_reported)
        async with Store.open(config.store.path, readonly=True) as store:
            resolved = await store.incident(incident.id)
            trail = await store.incident_log(incident.id)

    unknown, done = await _reports(engine)
    assert (unknown.applied, unknown.detail) == (False, "no such incident in this home")
    assert (done.applied, done.action_id) == (True, "act-resolve")
    assert resolved is not None
    assert resolved.state == "resolved"
    assert "Sam at the monitoring centre" in trail[-1]["reason"]
    assert twilio.outbound(to=ALICE)[-1]["body"].startswith(
        "Resolved by Sam at the monitoring centre"
    )


async def test_a_fetch_that_runs_out_of_time_is_not_taken_for_a_centre_out_of_reach(
    broker: LocalBroker,
    tmp_path: Path,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """nats-py's fetch raises asyncio's plain TimeoutError (an OSError) when its wait runs out
    before the server answers: that is an empty downlink, not a failure to back off from."""
    real_fetch, timeouts = PullSubscription.fetch, [0]

    async def running_out(self: PullSubscription, *args: Any, **kwargs: Any) -> Any:
        if timeouts[0] < 3:
            timeouts[0] += 1
            raise TimeoutError
        return await real_fetch(self, *args, **kwargs)

    monkeypatch.setattr(PullSubscription, "fetch", running_out)
    twilio = TwilioStandIn()
    async with AsyncExitStack() as stack:
        _, incident = await _pressed(stack, broker, tmp_path, engine, twilio)
        await engine.send_action(HUB_ID, _action(incident.id, "act-1"))

        async def reported() -> bool:
            return [r.action_id for r in await _reports(engine)] == ["act-1"]

        await eventually(reported)

    assert timeouts[0] == 3
    assert not [r for r in caplog.records if "not readable" in r.getMessage()]
