"""The hub's MQTT session: the only module that touches the paho client.

paho-mqtt is driven from the asyncio loop (its socket callbacks register readers and writers),
so every callback runs on the loop thread. QoS 1 messages are acknowledged by hand with `ack`,
which the hub calls only after the message's outcome is committed to the store.
"""

import asyncio
import contextlib
import logging
import os
import queue
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as paho
import stamina
from paho.mqtt.enums import CallbackAPIVersion, MessageType, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from hub.config.file import MqttSettings
from wire.schema import InboundMessage

log = logging.getLogger("telecare.mqtt")
MISC_INTERVAL_S = 1.0
READS_PER_WAKE = 64  # packets read each time the socket is ready (paho reads one per call)
RECV_CHUNK = 65536  # bytes taken from the socket at once
RECONNECT_MAX_S = 30.0
QOS_AT_LEAST_ONCE = 1


class BrokerUnavailableError(Exception):
    """The broker could not be reached or refused the connection."""


class _PausableClient(paho.Client):
    """paho's client, reading the socket in large chunks and able to stop reading at once.

    paho asks for a packet a few bytes at a time (its type, each byte of its length, then the
    rest): a system call each. Here one call takes up to `RECV_CHUNK` bytes and paho's reads
    are served from them, which halves the cost of reading a burst.

    One `loop_read` call reads as many packets as the client has messages in flight, which can
    be thousands; taking the reader off the event loop alone would not stop it mid-call. While
    `reading` is off, every receive says "nothing to read yet", which paho already handles at any
    point of a packet: it keeps what it has and carries on when reading resumes.

    paho writes each queued packet with a system call of its own. The hub acknowledges a
    committed batch all at once, hundreds of four-byte PUBACKs: waiting acknowledgements are
    joined into one packet before paho writes them, one system call for the lot.
    """

    reading = True
    _chunk = b""
    _chunk_at = 0
    _chunk_of: object = None  # the socket the chunk came from

    @property
    def buffered(self) -> bool:
        """Whether bytes already received wait to be read (the socket will not signal them)."""
        return self._chunk_of is self._sock and self._chunk_at < len(self._chunk)

    def _sock_recv(self, bufsize: int) -> bytes:
        if not self.reading:
            raise BlockingIOError
        if not self.buffered:
            chunk = super()._sock_recv(RECV_CHUNK)
            if not chunk:
                return chunk  # the broker closed the connection
            self._chunk, self._chunk_at, self._chunk_of = chunk, 0, self._sock
        start = self._chunk_at
        self._chunk_at = start + bufsize
        return self._chunk[start : start + bufsize]

    def _handle_on_message(self, message: paho.MQTTMessage) -> None:
        """Hand a message to `on_message`, the hub's one message callback.

        paho first looks for per-topic callbacks (a topic match and two locks per message,
        some 5 % of reading a burst); the hub registers none.
        """
        on_message = self.on_message
        if on_message is not None:
            on_message(self, self._userdata, message)

    def loop_write(self) -> MQTTErrorCode:
        self._join_acks()
        return super().loop_write()

    def _join_acks(self) -> None:
        """Join runs of waiting PUBACKs (none of them begun) into one packet each.

        paho does nothing when a PUBACK has been written but count it out, so a joined packet
        behaves as its parts would, in the same order among the other packets.
        """
        queued = self._out_packet
        if len(queued) < 2:  # noqa: PLR2004 (nothing to join)
            return
        joined: deque[Any] = deque()
        for packet in queued:
            last = joined[-1] if joined else None
            if _fresh_ack(packet) and last is not None and _fresh_ack(last):
                joined[-1] = {**last, "packet": last["packet"] + packet["packet"]}
                joined[-1]["to_process"] = len(joined[-1]["packet"])
            else:
                joined.append(packet)
        self._out_packet = joined


def _fresh_ack(packet: Any) -> bool:
    """Whether a queued packet is a PUBACK of which nothing has been written yet."""
    return bool(packet["command"] & 0xF0 == MessageType.PUBACK and packet["pos"] == 0)


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

    def _make_client(self, will: tuple[str, bytes] | None) -> _PausableClient:
        client = _PausableClient(
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

    def _read_ready(self, client: _PausableClient) -> None:
        """Read what the broker has sent: a burst reaches the event path in batches.

        paho reads one packet per call; one call per turn of the loop would hand a burst to the
        event path one message at a time. Bytes already received but not yet read are read on
        the next turn of the loop: the socket does not signal them again.
        """
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


def probe(settings: MqttSettings, *, timeout_s: float = 5.0) -> str | None:
    """Try the hub's broker login once, under another client id; None if it is accepted.

    Used by `telecare doctor`: a separate id, so a running hub's session is left alone.
    """
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{settings.client_id}-doctor", clean_session=True
    )
    if settings.username is not None:
        secret = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, secret)
    if settings.tls:
        client.tls_set_context(ssl.create_default_context())
    answers: list[ReasonCode] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.append(reason)
    target = f"{settings.host}:{settings.port}"
    try:
        client.connect(settings.host, settings.port, keepalive=10)
    except OSError as err:
        return f"cannot reach {target}: {err.strerror or err}"
    deadline = time.monotonic() + timeout_s
    while not answers and time.monotonic() < deadline:
        client.loop(timeout=0.1)
    client.disconnect()
    if not answers:
        return f"{target} did not answer within {timeout_s:.0f} s"
    if answers[0].is_failure:
        return f"{target} refused the hub's login: {answers[0]}"
    return None


def request_reply(
    settings: MqttSettings,
    *,
    publish: tuple[str, bytes],
    watch: str,
    accept: Callable[[bytes], bool],
    timeout_s: float,
) -> bytes | None:
    """Publish one message and wait for an accepted message on `watch` (a blocking one-shot).

    For command-line tools talking to the running hub: a clean session with its own client id,
    subscribed to `watch` before publishing, so a retained answer is seen too.

    Returns:
        The first payload on `watch` that `accept` takes, or None at the deadline.

    Raises:
        BrokerUnavailableError: the broker could not be reached.
    """
    replies: queue.Queue[bytes] = queue.Queue()
    client = _one_shot_client(settings)

    def subscribed(_c: paho.Client, _u: Any, _m: int, _r: Any, _p: Any) -> None:
        client.publish(publish[0], publish[1], qos=QOS_AT_LEAST_ONCE)

    client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe(watch, qos=QOS_AT_LEAST_ONCE)
    client.on_subscribe = subscribed
    client.on_message = lambda _c, _u, message: replies.put(bytes(message.payload))
    try:
        client.connect(settings.host, settings.port, settings.keepalive_s)
    except OSError as err:
        raise BrokerUnavailableError(str(err)) from err
    client.loop_start()
    try:
        return _first_accepted(replies, accept, timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()


def _one_shot_client(settings: MqttSettings) -> paho.Client:
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"telecare-cli-{os.getpid()}", clean_session=True
    )
    if settings.username is not None:
        password = settings.password
        client.username_pw_set(settings.username, password.get_secret_value() if password else None)
    if settings.tls:
        client.tls_set_context(ssl.create_default_context())
    return client


def _first_accepted(
    replies: queue.Queue[bytes], accept: Callable[[bytes], bool], timeout_s: float
) -> bytes | None:
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            payload = replies.get(timeout=left)
        except queue.Empty:
            return None
        if accept(payload):
            return payload
    return None
