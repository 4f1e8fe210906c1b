"""The hub's MQTT session: one connection to the broker, driven from the event loop.

paho-mqtt is driven from the asyncio loop (its socket callbacks register readers and writers),
so every callback runs on the loop thread. QoS 1 messages are acknowledged by hand with `ack`,
which the hub calls only after the message's outcome is committed to the store.
"""

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as paho
import stamina
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from hub.config.sections import MqttSettings
from hub.mqtt.client import QOS_AT_LEAST_ONCE, BrokerUnavailableError, PausableClient
from wire.schema import InboundMessage

log = logging.getLogger("telecare.mqtt")
MISC_INTERVAL_S = 1.0
READS_PER_WAKE = 64  # packets read each time the socket is ready (paho reads one per call)
# The longest wait between two attempts to reach the broker, and so the longest the hub stays
# deaf once the broker is back: its broker is on the same machine or the same network, and a
# failed attempt costs one refused connection. With 30 s, the hub found a broker back from a
# 60 s outage 24 s late, and every message queued for it meanwhile waited as long.
RECONNECT_MAX_S = 1.0
RECONNECT_JITTER_S = 0.1  # one hub per broker: no crowd of clients to spread out


class MqttSession:
    """A persistent MQTT session with a stable client id and automatic reconnection.

    Args:
        settings: Broker address, credentials and client id.
        subscriptions: Topic filters subscribed with QoS 1 on every connect.
        deliver: Called on the loop with each received message, in arrival order.
        will: Topic and payload of the retained last will, if any.
        birth: Topic and payload published retained on every connect, if any.
        persistent: Keep the session (and queued QoS 1 messages) across reconnects. The hub
            does; a short-lived CLI command does not.
        auto_ack: Acknowledge each message as it is delivered (for clients that store nothing).
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        subscriptions: Sequence[str],
        deliver: Callable[[InboundMessage], None],
        will: tuple[str, bytes] | None = None,
        birth: tuple[str, bytes] | None = None,
        persistent: bool = True,
        auto_ack: bool = False,
    ) -> None:
        self._settings = settings
        self._subscriptions = tuple(subscriptions)
        self._deliver = deliver
        self._birth = birth
        self._persistent = persistent
        self._auto_ack = auto_ack
        self._session = 0
        self._delivered = 0
        self._read_at = 0  # when the current read of the socket began (perf_counter_ns)
        self._connected = asyncio.Event()
        self._subscribed = asyncio.Event()  # every subscription of this connection acknowledged
        self._subscribing: dict[int, str] = {}  # topic of each SUBSCRIBE not yet acknowledged
        self._down = asyncio.Event()  # set while not connected: the other side of `_connected`
        self._down.set()
        self._lost = asyncio.Event()
        self._connack: asyncio.Future[None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._loop = asyncio.get_running_loop()
        self._sock: Any = None
        self._client = self._make_client(will)

    def _make_client(self, will: tuple[str, bytes] | None) -> PausableClient:
        client = PausableClient(
            CallbackAPIVersion.VERSION2,
            client_id=self._settings.client_id,
            clean_session=not self._persistent,
            protocol=paho.MQTTv311,
            manual_ack=True,
        )
        if self._settings.username is not None:
            password = self._settings.password
            client.username_pw_set(
                self._settings.username, password.get_secret_value() if password else None
            )
        if self._settings.tls:
            client.tls_set_context(ssl.create_default_context())
        if will is not None:
            client.will_set(will[0], will[1], qos=QOS_AT_LEAST_ONCE, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_socket_register_write
        client.on_socket_unregister_write = self._on_socket_unregister_write
        return client

    async def __aenter__(self) -> Self:
        self._tasks = [
            asyncio.create_task(self._supervise(), name="mqtt-supervise"),
            asyncio.create_task(self._misc(), name="mqtt-misc"),
        ]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._connected.is_set():
            self._client.disconnect()
        self._connected.clear()
        self._subscribed.clear()
        self._down.set()

    @property
    def connected(self) -> bool:
        """Whether the session is connected to the broker now."""
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        """Return once the broker has accepted the connection."""
        await self._connected.wait()

    async def wait_subscribed(self) -> None:
        """Return once the broker has taken this connection's subscriptions (its SUBACKs).

        Until then a message published by a device may find no subscriber on a new session.
        """
        await self._subscribed.wait()

    def _on_subscribe(
        self, _c: paho.Client, _u: Any, mid: int, reasons: list[ReasonCode], _p: Any
    ) -> None:
        topic = self._subscribing.pop(mid, None)
        if topic is not None and any(reason.is_failure for reason in reasons):
            log.warning("the broker refused the subscription to %s (check its ACL)", topic)
        if not self._subscribing:
            self._subscribed.set()

    async def wait_disconnected(self) -> None:
        """Return once the session is not connected (at once if it is not now)."""
        await self._down.wait()

    def ack(self, message: InboundMessage) -> None:
        """Acknowledge a QoS 1 message; skipped if it came on an earlier connection.

        The broker redelivers unacknowledged messages of an earlier connection itself.
        """
        if message.qos > 0 and message.session == self._session and self.connected:
            self._client.ack(message.mid, message.qos)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish with QoS 1; paho keeps it queued while the broker is away."""
        self._client.publish(topic, payload, qos=QOS_AT_LEAST_ONCE, retain=retain)

    def has_unread(self) -> bool:
        """Whether bytes already received from the broker wait to be read: a burst, mostly."""
        return self._client.buffered

    def pause_reading(self) -> None:
        """Stop reading from the broker: back-pressure while the hub catches up.

        The broker keeps what it cannot send (TCP flow control; unacknowledged QoS 1 messages
        stay in the persistent session), so nothing is lost and the hub's memory stays bounded.
        """
        self._client.reading = False
        if self._sock is not None:
            self._loop.remove_reader(self._sock)

    def resume_reading(self) -> None:
        """Read from the broker again, starting with anything already received."""
        if self._client.reading:
            return
        self._client.reading = True
        if self._sock is not None:
            self._loop.add_reader(self._sock, self._read_ready, self._client)
            # A TLS layer may hold decrypted bytes the socket no longer signals: read them now.
            self._loop.call_soon(self._read_ready, self._client)

    async def publish_and_wait(self, topic: str, payload: bytes, *, retain: bool) -> bool:
        """Publish with QoS 1 and wait until the broker has it; False if it could not."""
        if not self.connected:
            return False
        info = self._client.publish(topic, payload, qos=QOS_AT_LEAST_ONCE, retain=retain)
        while not info.is_published():
            if not self.connected:
                return False
            await asyncio.sleep(0.01)
        return True

    async def _supervise(self) -> None:
        while True:
            await self._connect_with_backoff()
            await self._lost.wait()
            self._lost.clear()
            log.warning("broker connection lost; reconnecting")

    async def _connect_with_backoff(self) -> None:
        target = f"{self._settings.host}:{self._settings.port}"
        failures = 0
        async for attempt in stamina.retry_context(
            on=BrokerUnavailableError,
            attempts=None,
            timeout=None,
            wait_initial=0.2,
            wait_max=RECONNECT_MAX_S,
            wait_jitter=RECONNECT_JITTER_S,
        ):
            with attempt:
                try:
                    await self._connect_once()
                except BrokerUnavailableError as err:
                    failures += 1
                    if failures == 1:
                        log.warning(
                            "broker %s unreachable (%s); retrying with backoff", target, err
                        )
                    raise
        log.info("connected to broker %s%s", target, " again" if self._session > 1 else "")

    async def _connect_once(self) -> None:
        self._connack = self._loop.create_future()
        first = self._session == 0 and not self._client.is_connected()
        try:
            if first:
                connect: Callable[[], MQTTErrorCode] = lambda: self._client.connect(  # noqa: E731
                    self._settings.host, self._settings.port, self._settings.keepalive_s
                )
            else:
                connect = self._client.reconnect
            await self._loop.run_in_executor(None, connect)
            async with asyncio.timeout(self._settings.keepalive_s):
                await self._connack
        except (OSError, TimeoutError) as err:
            raise BrokerUnavailableError(str(err) or type(err).__name__) from err

    async def _misc(self) -> None:
        while True:
            self._client.loop_misc()
            await asyncio.sleep(MISC_INTERVAL_S)

    def _on_connect(
        self, client: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        future = self._connack
        if reason.is_failure:
            if future is not None and not future.done():
                future.set_exception(BrokerUnavailableError(f"refused: {reason}"))
            return
        self._session += 1
        self._subscribed.clear()
        self._subscribing = {}
        for topic in self._subscriptions:
            _rc, mid = client.subscribe(topic, qos=QOS_AT_LEAST_ONCE)
            if mid is not None:  # None only without a connection, which this call has
                self._subscribing[mid] = topic
        if not self._subscribing:
            self._subscribed.set()
        if self._birth is not None:
            client.publish(self._birth[0], self._birth[1], qos=QOS_AT_LEAST_ONCE, retain=True)
        self._connected.set()
        self._down.clear()
        if future is not None and not future.done():
            future.set_result(None)

    def _on_disconnect(
        self, _c: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        self._subscribed.clear()
        self._down.set()
        future = self._connack
        if future is not None and not future.done():
            future.set_exception(BrokerUnavailableError(f"disconnected: {reason}"))
        if was_connected:
            self._lost.set()

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        inbound = InboundMessage(
            topic=message.topic,
            payload=bytes(message.payload),
            qos=message.qos,
            mid=message.mid,
            dup=bool(message.dup),
            retain=bool(message.retain),
            session=self._session,
            received_ns=self._read_at,
        )
        self._delivered += 1
        self._deliver(inbound)
        if self._auto_ack:
            self.ack(inbound)

    # paho calls these from `connect`, which runs in an executor thread: hop onto the loop.
    def _in_loop(self, func: Callable[..., object], *args: object) -> None:
        if self._on_loop_thread():
            func(*args)
        else:
            self._loop.call_soon_threadsafe(func, *args)

    def _on_loop_thread(self) -> bool:
        try:
            return asyncio.get_running_loop() is self._loop
        except RuntimeError:
            return False

    def _on_socket_open(self, client: paho.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._opened, sock, client)

    def _opened(self, sock: Any, _client: paho.Client) -> None:
        self._sock = sock
        # paho leaves Nagle's algorithm on: an acknowledgement or a command would wait for the
        # TCP acknowledgement of the packet before it (up to some 40 ms on Linux).
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._client.reading:
            self._loop.add_reader(sock, self._read_ready, self._client)

    def _read_ready(self, client: PausableClient) -> None:
        """Read what the broker has sent: a burst reaches the event path in batches.

        paho reads one packet per call; one call per turn of the loop would hand a burst to the
        event path one message at a time. Bytes already received but not yet read are read on
        the next turn of the loop: the socket does not signal them again.

        Each message is stamped with when this read began (see `hub.pipeline.stages`).
        """
        self._read_at = time.perf_counter_ns()
        for _ in range(READS_PER_WAKE):
            if not client.reading:
                return  # paused: the inbox is full
            delivered = self._delivered
            if client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return
            if self._delivered == delivered and not client.buffered:
                return  # no message came with that read (an acknowledgement, or nothing more)
        if client.reading and client.buffered:
            self._loop.call_soon(self._read_ready, client)

    def _on_socket_close(self, _c: paho.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._closed, sock)

    def _closed(self, sock: Any) -> None:
        if self._sock is sock:
            self._sock = None
        self._loop.remove_reader(sock)

    def _on_socket_register_write(self, client: paho.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._loop.add_writer, sock, client.loop_write)

    def _on_socket_unregister_write(self, _c: paho.Client, _u: Any, sock: Any) -> None:
        self._in_loop(self._loop.remove_writer, sock)
