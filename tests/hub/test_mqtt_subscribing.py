"""The hub is ready only once the broker has taken its subscriptions."""

import asyncio
from typing import Any

import aiomqtt
import pytest

from hub.config.sections import MqttSettings
from hub.mqtt.broker import LocalBroker
from hub.mqtt.client import PausableClient
from hub.mqtt.session import MqttSession
from wire.schema import InboundMessage


async def test_subscribed_waits_for_the_brokers_acknowledgement(
    broker: LocalBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a new session a device's message published before the broker has the subscription
    # finds no subscriber and is gone: "hub ready" waits for the acknowledgement, not the
    # connection alone. Here the SUBSCRIBE packets are held in the client after connecting.
    held = asyncio.Event()
    real_write = PausableClient.loop_write
    real_connect = MqttSession._on_connect

    def write(self: PausableClient) -> Any:
        return 0 if held.is_set() else real_write(self)  # 0: paho's "success", nothing written

    def connect(self: MqttSession, *args: Any) -> None:
        real_connect(self, *args)
        held.set()  # the subscriptions are queued: keep them there for now

    monkeypatch.setattr(PausableClient, "loop_write", write)
    monkeypatch.setattr(MqttSession, "_on_connect", connect)
    got: list[InboundMessage] = []
    arrived = asyncio.Event()

    def deliver(message: InboundMessage) -> None:
        got.append(message)
        arrived.set()

    settings = MqttSettings(host=broker.host, port=broker.port, client_id="subscriber")
    async with MqttSession(
        settings, subscriptions=["t/#"], deliver=deliver, persistent=False, auto_ack=True
    ) as session:
        await session.wait_connected()
        subscribed = asyncio.create_task(session.wait_subscribed())
        await asyncio.sleep(0.3)
        assert not subscribed.done(), "connected, but the broker has no subscription yet"
        held.clear()
        await asyncio.wait_for(subscribed, 10)
        async with aiomqtt.Client(broker.host, broker.port, identifier="device") as device:
            await device.publish("t/1", b"first", qos=1)
        await asyncio.wait_for(arrived.wait(), 10)
    assert [(m.topic, m.payload) for m in got] == [("t/1", b"first")]
