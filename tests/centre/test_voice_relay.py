"""An alert call's "press 1" with nothing able to reach the hub: relayed through the centre.

The hub has no web server and no public URL; it reports to the centre (a real NATS cluster and
PostgreSQL). Its call asks Twilio (the stand-in, through the real SDK) to post the key pressed
to the centre's console, which passes it on over the downlink; the hub checks Twilio's
signature and its own token, acts as its own voice hook would, and its answer comes back over
the uplink into what the console tells the caller.
"""

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from twilio.request_validator import RequestValidator

from centre.bus import CentreBus
from centre.console.actions import DownlinkActions
from centre.console.app import build_app
from centre.console.context import console_context
from centre.console.settings import ConsoleSettings
from centre.downlink import Downlink
from centre.registry import Registry
from centre.relay import PASSED_ON, CallRelay
from centre.servers.nats import NatsCluster
from hub.config.file import config_from_dict
from hub.mqtt.broker import LocalBroker
from hub.pipeline.rejections import RejectLog
from hub.store.store import Store
from tests.centre.support import running, workers_on
from tests.support.calls import call_form, gather_action, spoken, twilio_section
from tests.support.hubs import config_data, device_client, eventually, running_hub
from tests.support.standins import ACCOUNT_SID, AUTH_TOKEN, TwilioStandIn, serving
from wire.schema import event_topic
from wire.uplink import relay_voice_path

RELAY_URL = "https://centre.example.org/care"
ALICE, BEN = "+447700900123", "+447700900456"
NOTHING = "Nothing was acknowledged, so the alarm stays with the others. Goodbye."


@dataclass
class Rig:
    """A hub behind NAT reporting to the centre, the Twilio stand-in and the console."""

    twilio: TwilioStandIn
    console: httpx.AsyncClient
    db: Path
    rejects: RejectLog
    stack: AsyncExitStack

    async def stop(self) -> None:
        """Stop the hub (and the rest): its refusals are then counted in `rejects`."""
        await self.stack.aclose()

    async def call_to_alice(self) -> dict[str, Any]:
        async def called() -> bool:
            return any(c["to"] == ALICE for c in self.twilio.calls.values()) and bool(
                self.twilio.outbound(to=BEN)
            )

        await eventually(called)
        return next(c for c in self.twilio.calls.values() if c["to"] == ALICE)

    async def twilio_posts(
        self, address: str, form: dict[str, str], *, token: str | None = AUTH_TOKEN
    ) -> str:
        """POST as Twilio does to `address`, signed with `token` (None: unsigned); what is said."""
        headers = {}
        if token is not None:
            headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(address, form)
        answer = await self.console.post(
            address.removeprefix(RELAY_URL), data=form, headers=headers
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/xml")
        return spoken(answer.text)

    async def reasons(self) -> list[str]:
        async with Store.open(self.db, readonly=True) as store:
            [incident] = await store.incidents()
            return [line["reason"] for line in await store.incident_log(incident.id)]


@pytest.fixture
async def rig(
    broker: LocalBroker,
    tmp_path: Path,
    nats_cluster: NatsCluster,
    registry: Registry,
    centre_pool: asyncpg.Pool,
    centre_bus: CentreBus,
) -> AsyncIterator[Rig]:
    """The hub behind NAT, its alarm raised: Alice is called, Ben sent an SMS."""
    pool, bus = centre_pool, centre_bus
    credentials = await registry.add_home("home-r", "Home R")
    twilio = TwilioStandIn()
    async with AsyncExitStack() as stack:
        twilio_url = await stack.enter_async_context(serving(twilio))
        data = config_data(
            broker,
            tmp_path,
            web={"enabled": False},
            contacts=[{"name": "Alice", "phone": ALICE}, {"name": "Ben", "phone": BEN}],
            twilio=twilio_section(twilio_url),
            centre={
                "servers": nats_cluster.servers,
                "hub_id": credentials.hub_id,
                "password": credentials.nats_password,
                "key": credentials.key_hex,
                "ca_file": str(nats_cluster.ca_file),
                "ack_timeout_s": 2,
                "relay_url": RELAY_URL,
            },
            escalation={
                "emergency": {
                    "steps": [
                        {"contact": "Alice", "channel": "voice", "after_s": 0},
                        {"contact": "Ben", "channel": "sms", "after_s": 0},
                    ]
                }
            },
        )
        config = config_from_dict(data)
        await stack.enter_async_context(running(workers_on(pool, [bus])))
        rejects = await stack.enter_async_context(running_hub(config))
        settings = ConsoleSettings(port=0, public_url=RELAY_URL, relay_wait_s=10)
        ctx = console_context(
            pool,
            settings,
            DownlinkActions(pool, Downlink(pool, bus)),
            relay=CallRelay(pool, bus, wait_s=settings.relay_wait_s),
        )
        transport = httpx.ASGITransport(app=build_app(ctx))
        console = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://console", timeout=20)
        )
        device = await stack.enter_async_context(device_client(broker))
        await device.publish(event_topic("pendant-1"), json.dumps({"type": "pendant.pressed"}))
        yield Rig(twilio, console, config.store.path, rejects, stack)


async def test_pressing_1_through_the_centre_accepts_stops_the_ladder_and_tells_ben(
    rig: Rig,
) -> None:
    call = await rig.call_to_alice()
    action = gather_action(call)
    assert action.startswith(f"{RELAY_URL}{relay_voice_path('home-r')}?entry=")

    said = await rig.twilio_posts(action, call_form(call, Digits="1"))

    assert said == "Thank you. Mum will be told you are on your way."
    assert (await rig.reasons())[-1] == "acknowledged by Alice via voice"

    async def ben_told() -> bool:
        return len(rig.twilio.outbound(to=BEN)) == 2

    await eventually(ben_told)
    assert rig.twilio.outbound(to=BEN)[1]["body"].startswith("Alice is handling it")
    again = await rig.twilio_posts(action, call_form(call, Digits="1"))
    assert again.startswith("Thank you. This alarm has already been answered")
    assert (await rig.reasons()).count("acknowledged by Alice via voice") == 1


async def test_no_1_voicemail_and_forged_relays_accept_nothing_and_forgeries_are_counted(
    rig: Rig,
) -> None:
    call = await rig.call_to_alice()
    action = gather_action(call)
    other_key = await rig.twilio_posts(action, call_form(call, Digits="5"))
    voicemail = await rig.twilio_posts(action, call_form(call))
    forged = await rig.twilio_posts(action, call_form(call, Digits="1"), token="not-twilio")
    unsigned = await rig.twilio_posts(action, call_form(call, Digits="1"), token=None)
    entry = action.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAA"  # not the hub's token
    wrong_token = await rig.twilio_posts(entry, call_form(call, Digits="1"))

    assert [other_key, voicemail, forged, unsigned, wrong_token] == [NOTHING] * 5
    assert not any("acknowledged" in reason for reason in await rig.reasons())
    assert len(rig.twilio.outbound(to=BEN)) == 1  # nobody is "handling it"
    await rig.stop()
    assert rig.rejects.counts["relay_bad_signature"] == 1
    assert rig.rejects.counts["relay_unsigned"] == 1


async def test_a_hub_that_does_not_answer_in_time_is_never_taken_to_have_accepted(
    registry: Registry, centre_pool: asyncpg.Pool, centre_bus: CentreBus
) -> None:
    await registry.add_home("home-q", "Home Q")
    settings = ConsoleSettings(port=0, public_url=RELAY_URL, relay_wait_s=0.5, relay_per_minute=3)
    relay = CallRelay(centre_pool, centre_bus, wait_s=settings.relay_wait_s)
    actions = DownlinkActions(centre_pool, Downlink(centre_pool, centre_bus))
    ctx = console_context(centre_pool, settings, actions, relay=relay)
    transport = httpx.ASGITransport(app=build_app(ctx))
    form = {"AccountSid": ACCOUNT_SID, "CallSid": "CA" + "1" * 32, "Digits": "1"}
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as console:
        silent = await console.post(f"{relay_voice_path('home-q')}?entry=7.x", data=form)
        unknown = await console.post(relay_voice_path("home-nobody"), data=form)
        too_big = await console.post(relay_voice_path("home-q"), data={"Digits": "1" * 20_000})
        limited = [(await console.post(relay_voice_path("home-q"), data=form)) for _ in range(3)]

    assert silent.status_code == 200
    assert spoken(silent.text) == PASSED_ON
    assert unknown.status_code == 404
    assert too_big.status_code == 413
    # 3 a minute: one was taken above; a body refused unread by its size takes none
    assert [r.status_code for r in limited] == [200, 200, 429]
