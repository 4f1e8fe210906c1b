"""The hub's MQTT session reads the broker's socket in chunks and loses nothing doing so."""

import asyncio
import socket

import aiomqtt
import pytest

import hub.mqtt
from hub.broker import LocalBroker
from hub.config import MqttSettings
from hub.mqtt import RECV_CHUNK, MqttSession
from hub.wire import InboundMessage


async def _publish_all(broker: LocalBroker, messages: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client(broker.host, broker.port, identifier="devices") as client:
        await asyncio.gather(*(client.publish(t, p, qos=1) for t, p in messages))


async def _receive(
    broker: LocalBroker, messages: list[tuple[str, bytes]]
) -> tuple[list[InboundMessage], MqttSession]:
    got: list[InboundMessage] = []
    arrived = asyncio.Event()

    def deliver(message: InboundMessage) -> None:
        got.append(message)
        if len(got) == len(messages):
            arrived.set()

    settings = MqttSettings(host=broker.host, port=broker.port, client_id="reader")
    async with MqttSession(
        settings, subscriptions=["t/#"], deliver=deliver, persistent=False, auto_ack=True
    ) as session:
        await session.wait_connected()
        await _publish_all(broker, messages)
        async with asyncio.timeout(10):  # a stuck chunk would wait for the next keep-alive
            await arrived.wait()
        return got, session


async def test_a_burst_read_a_packet_per_turn_arrives_whole_and_in_order(
    broker: LocalBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One packet per turn of the loop: the rest of each chunk waits in the client, where the
    # socket no longer signals it, and must still be read.
    monkeypatch.setattr(hub.mqtt, "READS_PER_WAKE", 1)
    sent = [(f"t/{n % 7}", f'{{"n": {n}}}'.encode()) for n in range(600)]
    got, _ = await _receive(broker, sent)
    assert [(m.topic, m.payload) for m in got] == sent


async def test_a_message_larger_than_a_chunk_arrives_intact(broker: LocalBroker) -> None:
    big = bytes(range(256)) * (3 * RECV_CHUNK // 256 + 7)
    sent = [("t/small", b"before"), ("t/big", big), ("t/small", b"after")]
    got, _ = await _receive(broker, sent)
    assert [(m.topic, m.payload) for m in got] == sent


async def test_the_session_sends_without_waiting_to_coalesce(broker: LocalBroker) -> None:
    got, session = await _receive(broker, [("t/one", b"1")])
    assert got
    sock = session._sock
    assert sock is not None
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
