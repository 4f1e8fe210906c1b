"""The hub's MQTT session reads the broker's socket in chunks and loses nothing doing so."""

import asyncio
import socket

import aiomqtt
import pytest

import hub.mqtt.session
from hub.config.sections import MqttSettings
from hub.mqtt.broker import LocalBroker
from hub.mqtt.client import RECV_CHUNK
from hub.mqtt.session import MqttSession
from wire.schema import InboundMessage


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
    monkeypatch.setattr(hub.mqtt.session, "READS_PER_WAKE", 1)
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


async def _take_unacknowledged(
    broker: LocalBroker, client_id: str, expected: int
) -> tuple[MqttSession, list[InboundMessage]]:
    got: list[InboundMessage] = []
    arrived = asyncio.Event()

    def deliver(message: InboundMessage) -> None:
        got.append(message)
        if len(got) >= expected:
            arrived.set()

    settings = MqttSettings(host=broker.host, port=broker.port, client_id=client_id)
    session = MqttSession(settings, subscriptions=["t/#"], deliver=deliver)
    await session.__aenter__()
    await session.wait_connected()
    if expected:
        async with asyncio.timeout(10):
            await arrived.wait()
    return session, got


async def test_acknowledgements_of_a_batch_leave_together_and_the_broker_takes_every_one(
    mosquitto: LocalBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The hub acknowledges a committed batch at once: hundreds of PUBACKs joined into a few
    # writes. Were any lost or mangled, the broker would send those messages again.
    first, _ = await _take_unacknowledged(mosquitto, "acker", 0)  # the persistent session
    await first.__aexit__(None, None, None)
    sent = [(f"t/{n % 5}", f'{{"n": {n}}}'.encode()) for n in range(300)]
    await _publish_all(mosquitto, sent)
    session, got = await _take_unacknowledged(mosquitto, "acker", len(sent))
    writes: list[int] = []
    client = session._client
    real_send = client._sock_send

    def counted(data: bytes) -> int:
        writes.append(len(data))
        return real_send(data)

    monkeypatch.setattr(client, "_sock_send", counted)
    for message in got:
        session.ack(message)
    await asyncio.sleep(0.2)  # the loop writes when the socket is ready
    await session.__aexit__(None, None, None)
    assert sum(writes) >= 4 * len(sent)  # every four-byte PUBACK was written
    assert len(writes) < len(sent) / 10

    again, redelivered = await _take_unacknowledged(mosquitto, "acker", 0)
    await asyncio.sleep(0.5)  # time for the broker to resend anything it still holds
    await again.__aexit__(None, None, None)
    assert redelivered == []
