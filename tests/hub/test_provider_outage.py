"""A long outage of Twilio and ntfy together, on a running hub with a real Mosquitto.

Both providers first answer 503 to every send, then hang past the client's timeout; Pushover
stays up. While they are down each alarm reaches Carol through Pushover (the ladder's next step
still works), and one of them (the smoke alarm) is accepted by her. Once they answer again, the
alarms still open reach Alice's push and Bob's phone (by SMS, WhatsApp or a call: whichever
Twilio takes first), in the order they were raised, once each; the accepted one never does.

How this stands for ten minutes: with the defaults, an emergency gives a channel 45 s of retries
(waits up to 20 s) before failing over, a request times out after 10 s, and an alarm owed since
its provider stopped answering is tried again every 15 s; a 10-minute outage is some 13 retry
budgets and 40 tries of the owed alarms. Here every one of those durations is configured small
(a 1 s retry budget, waits of at most 0.1 s, 0.3 s timeouts, a try every 0.4 s, steps 1 s
apart) and the outage lasts over 2 x `PHASE_S`: more than 10 retry budgets and some 25 tries,
long past every retry and step, as ten minutes are. The hub's clock seam
(`TELECARE_TEST_CLOCK_OFFSET_FILE`) is no help here: the hub takes a step of its wall clock for
a correction, not for time passing, and retries run on the monotonic clock.
(`bench/chaos.py --provider-outage-s 600` runs the real ten minutes.)
"""

import asyncio
import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiomqtt

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import device_client, eventually, in_process_config, running_hub
from tests.support.pushover_standin import APP_TOKEN, BEN_USER, PushoverStandIn
from tests.support.standins import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    Fault,
    NtfyStandIn,
    TwilioStandIn,
    serving,
)
from wire.schema import event_topic

BOB = "+447700900456"
CAROL = BEN_USER  # a user key the Pushover stand-in knows
PHASE_S = 5.0  # each phase of the outage (its length is what is under test)
DEVICES = [
    {"id": "pendant-1", "name": "pendant", "role": "pendant", "room": "Bedroom"},
    {"id": "smoke-1", "name": "smoke alarm", "role": "smoke", "room": "Kitchen"},
    {"id": "fall-1", "name": "fall detector", "role": "fall_detector", "room": "Bathroom"},
]
PRESSED, SMOKE, FALLEN = "pressed the pendant", "FIRE ALARM", "may have fallen"


def hub_settings(ntfy_url: str, twilio_url: str, pushover_url: str) -> dict[str, Any]:
    """Alice by push, Bob by SMS (or WhatsApp, or a call), Carol by Pushover; all quick."""
    return {
        "devices": DEVICES,
        "contacts": [
            {"name": "Alice", "ntfy_topic": "alice-phone"},
            {"name": "Bob", "phone": BOB},
            {"name": "Carol", "pushover_user": CAROL},
        ],
        "ntfy": {"server": ntfy_url, "timeout_s": 0.3},
        "twilio": {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from_number": FROM_NUMBER,
            "api_base": twilio_url,
            "timeout_s": 0.3,
        },
        "pushover": {"app_token": APP_TOKEN, "api_base": pushover_url, "poll_s": 5},
        "delivery": {
            "attempts": 4,
            "emergency_timeout_s": 1.0,
            "wait_initial_s": 0.02,
            "wait_max_s": 0.1,
            "wait_jitter_s": 0.02,
            "resend_every_s": 0.4,
        },
        "policy": {"fall": {"confirm_s": 0}},
        "escalation": {
            "emergency": {
                "steps": [
                    {"contact": "Alice", "channel": "ntfy", "after_s": 0},
                    {"contact": "Bob", "channel": "sms", "after_s": 1},
                    {"contact": "Carol", "channel": "pushover", "after_s": 2},
                ]
            }
        },
    }


class Outage:
    """ntfy and Twilio down together; Carol's Pushover, and what each carer has had."""

    def __init__(self, ntfy: NtfyStandIn, twilio: TwilioStandIn, pushover: PushoverStandIn):
        self.ntfy, self.twilio, self.pushover = ntfy, twilio, pushover

    def begin(self, fault: Fault) -> None:
        self.ntfy.outage = self.twilio.outage = fault

    def end(self) -> None:
        self.ntfy.outage = self.twilio.outage = None

    async def carol_has(self, count: int) -> None:
        async def rung() -> bool:
            return len(self.pushover.to(CAROL)) >= count

        await eventually(rung, timeout_s=30)

    def alice(self) -> list[str]:
        return [m["message"] for m in self.ntfy.on_topic("alice-phone")]

    def bob(self) -> list[str]:
        """What reached Bob by SMS, WhatsApp or a call, in the order Twilio took it."""
        sent = [(m["sid"], m["body"]) for m in self.twilio.outbound()]
        sent += [(c["sid"], c["twiml"]) for c in self.twilio.calls.values()]
        return [text for _, text in sorted(sent, key=lambda s: int(s[0][2:], 16))]


async def raise_alarm(device: aiomqtt.Client, device_id: str, kind: str, seq: int) -> None:
    body = json.dumps({"type": kind, "seq": seq})
    await device.publish(event_topic(device_id), body, qos=1)


async def settled(db: Path) -> bool:
    """Nothing left to send: no alarm owed, no entry waiting for its channel."""
    async with Store.open(db, readonly=True) as store:
        waiting = await store.notifications(states=("pending",))
        return not waiting and not (await store.owed_notifications()).alarms()


def about(texts: list[str]) -> list[str]:
    """Which alarm each text is about, in order."""
    return [next(k for k in (PRESSED, SMOKE, FALLEN) if k in text) for text in texts]


async def test_a_long_outage_of_ntfy_and_twilio_loses_nothing_and_repeats_nothing(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    ntfy, twilio, pushover = NtfyStandIn(), TwilioStandIn(), PushoverStandIn()
    outage = Outage(ntfy, twilio, pushover)
    async with AsyncExitStack() as stack:
        urls = [await stack.enter_async_context(serving(s)) for s in (ntfy, twilio, pushover)]
        config = in_process_config(mosquitto, tmp_path, **hub_settings(*urls))
        await stack.enter_async_context(running_hub(config))
        device = await stack.enter_async_context(device_client(mosquitto))

        outage.begin(Fault(503))
        await raise_alarm(device, "pendant-1", "pendant.pressed", 1)
        await outage.carol_has(1)
        await raise_alarm(device, "smoke-1", "smoke.detected", 1)
        await outage.carol_has(2)
        smoke = pushover.to(CAROL)[1]
        assert smoke.receipt is not None
        pushover.acknowledge(smoke.receipt, CAROL)  # Carol is dealing with the fire
        await incident_accepted(config.store.path, "smoke")
        await asyncio.sleep(PHASE_S)  # the outage goes on: its length is under test

        outage.begin(Fault(hang=True))
        await raise_alarm(device, "fall-1", "fall.detected", 1)
        await outage.carol_has(3)
        await asyncio.sleep(PHASE_S)  # the outage goes on: its length is under test
        assert (outage.alice(), outage.bob()) == ([], []), "nothing gets through an outage"
        assert about([m.form["message"] for m in pushover.to(CAROL)]) == [PRESSED, SMOKE, FALLEN]

        outage.end()

        async def backlog_out() -> bool:
            return len(outage.alice()) >= 2 and len(outage.bob()) >= 2

        await eventually(backlog_out, timeout_s=30)

        async def nothing_left() -> bool:
            return await settled(config.store.path)

        await eventually(nothing_left, timeout_s=30)

    assert about(outage.alice()) == [PRESSED, FALLEN], "in raised order, once each, no fire"
    assert about(outage.bob()) == [PRESSED, FALLEN], "whichever of his channels came back first"
    assert len(pushover.to(CAROL)) == 3, "Carol, told during the outage, is not told again"


async def incident_accepted(db: Path, cause: str) -> None:
    async def accepted() -> bool:
        async with Store.open(db, readonly=True) as store:
            return any(
                i.cause == cause and i.state == "acknowledged" for i in await store.incidents()
            )

    await eventually(accepted, timeout_s=30)
