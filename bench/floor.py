"""What this machine allows at all: the perf phases through a bare forwarder that stores nothing.

Run: .venv/bin/python -m bench.floor

The forwarder is the least a Python hub could do: the hub's own MQTT session (the same paho
client, chunked reads, QoS 1) and, for each alert-worthy message, one aiohttp request to each
stand-in, acknowledging the message once both are answered. No decoding beyond a glance at the
payload, no engine, no store, no Twilio SDK. Whatever it cannot reach, the hub cannot either;
the gap between the two is what storing, deciding and the SDK cost. `bench.perf --floor` prints
these figures beside the hub's.
"""

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.latency import Publisher, run_phase
from bench.phones import Phones
from bench.traffic import ALICE_TOPIC, BOB_PHONE, Household
from hub.config.sections import MqttSettings
from hub.mqtt.broker import LocalBroker
from tests.support.standins import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER
from wire.schema import InboundMessage

START_LIMIT_S = 30.0


def _text(message: InboundMessage) -> str | None:
    """The alert a message raises, told apart as cheaply as the bench's traffic allows."""
    payload = message.payload
    if b"pendant.pressed" in payload:
        return "Mum pressed the pendant"
    if b"pendant.cancelled" in payload:
        return "All OK: the pendant alarm was cancelled"
    if message.topic.startswith("zigbee2mqtt/smoke-"):
        smoke = json.loads(payload).get("smoke")
        return "FIRE ALARM" if smoke else "All clear: the smoke alarm stopped"
    return None


def _forward(port: int, ntfy: str, twilio: str, ready: Any) -> None:
    import aiohttp  # noqa: PLC0415  # in the child process only

    from hub.mqtt.session import MqttSession  # noqa: PLC0415

    async def main() -> None:
        auth = {"Authorization": aiohttp.encode_basic_auth(ACCOUNT_SID, AUTH_TOKEN)}
        sms_url = f"{twilio}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        async with aiohttp.ClientSession() as http:

            async def post(url: str, **kwargs: Any) -> None:
                async with http.post(url, **kwargs) as response:
                    await response.read()

            async def alert(message: InboundMessage, text: str) -> None:
                form = {"To": BOB_PHONE, "From": FROM_NUMBER, "Body": text}
                await asyncio.gather(
                    post(f"{ntfy}/{ALICE_TOPIC}", data=text.encode()),
                    post(sms_url, data=form, headers=auth),
                )
                session.ack(message)

            def deliver(message: InboundMessage) -> None:
                text = _text(message)
                if text is None:
                    session.ack(message)
                else:
                    tasks.add(task := asyncio.get_running_loop().create_task(alert(message, text)))
                    task.add_done_callback(tasks.discard)

            tasks: set[asyncio.Task[None]] = set()
            settings = MqttSettings(port=port, client_id="bench-floor")
            topics = ["telecare/#", "zigbee2mqtt/#"]
            async with MqttSession(settings, subscriptions=topics, deliver=deliver) as session:
                await session.wait_connected()
                ready.set()
                await asyncio.Event().wait()

    asyncio.run(main())


@contextlib.contextmanager
def forwarder() -> Iterator[tuple[Publisher, Phones]]:
    """The bare forwarder on a broker and stand-ins of its own: a publisher to it, its phones."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        LocalBroker(Path(tmp) / "broker", kind="mosquitto") as broker,
        Phones() as phones,
    ):
        ready = multiprocessing.Event()
        child = multiprocessing.Process(
            target=_forward,
            args=(broker.port, phones.ntfy_url, phones.twilio_url, ready),
            daemon=True,
        )
        child.start()
        try:
            if not ready.wait(START_LIMIT_S):
                raise SystemExit("the bare forwarder did not connect")
            time.sleep(1.0)
            publisher = Publisher(broker.host, broker.port)
            try:
                yield publisher, phones
            finally:
                publisher.close()
        finally:
            child.terminate()
            child.join(10)


def measure_floor() -> dict[str, Any]:
    """The steady, burst and priority phases of `bench.perf` through the bare forwarder."""
    with forwarder() as (publisher, phones):
        home = Household()
        return {
            "steady": run_phase(publisher, phones, home.stream(2000, 0.4), 200.0).summary(),
            "burst": run_phase(publisher, phones, home.stream(1000, 0.4), None).summary(),
            "priority": run_phase(publisher, phones, home.stream(1000, 0.01), None).summary(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.parse_args()
    for phase, figures in measure_floor().items():
        shown = ", ".join(
            f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()
        )
        print(f"{phase:<9} {shown}")


if __name__ == "__main__":
    main()
