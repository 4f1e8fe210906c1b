"""One-shot MQTT exchanges for the command line: a login probe, a request and its reply.

Blocking, each with a clean session of its own, so a running hub's session is left alone.
"""

import os
import queue
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from hub.config.sections import MqttSettings
from hub.mqtt.client import QOS_AT_LEAST_ONCE, BrokerUnavailableError


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
    with _running(client, settings):
        return _first_accepted(replies, accept, timeout_s)


def retained(settings: MqttSettings, topic: str, *, timeout_s: float) -> bytes | None:
    """The message retained on `topic`, if any (a blocking one-shot, for the hub at start).

    Subscribed to `topic` and to a probe topic of its own, it publishes the probe once the
    broker has taken the subscriptions: the broker sends what it retains before anything
    published after them, so once the probe is back, whatever was retained has come.

    Raises:
        BrokerUnavailableError: the broker could not be reached, or did not answer in time.
    """
    probe = f"{topic}/probe/{os.getpid()}"
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    client = _one_shot_client(settings, client_id=f"{settings.client_id}-start")
    client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe(
        [(topic, QOS_AT_LEAST_ONCE), (probe, QOS_AT_LEAST_ONCE)]
    )
    client.on_subscribe = lambda c, _u, _m, _r, _p: c.publish(probe, b"probe", qos=1)
    client.on_message = lambda _c, _u, message: got.put((message.topic, bytes(message.payload)))
    with _running(client, settings):
        return _until_probe(got, topic, probe, timeout_s)


@contextmanager
def _running(client: paho.Client, settings: MqttSettings) -> Iterator[None]:
    """Connected, with paho's network loop on a thread of its own, until the exchange ends."""
    try:
        client.connect(settings.host, settings.port, settings.keepalive_s)
    except OSError as err:
        raise BrokerUnavailableError(str(err)) from err
    client.loop_start()
    try:
        yield
    finally:
        client.disconnect()
        client.loop_stop()


def _until_probe(
    got: "queue.Queue[tuple[str, bytes]]", topic: str, probe: str, timeout_s: float
) -> bytes | None:
    kept: bytes | None = None
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        try:
            where, payload = got.get(timeout=left)
        except queue.Empty:
            break
        if where == probe:
            return kept
        if where == topic:
            kept = payload or None  # an empty retained message is none
    raise BrokerUnavailableError(f"no answer on {topic} in {timeout_s:g} s")


def _one_shot_client(settings: MqttSettings, client_id: str | None = None) -> paho.Client:
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or f"telecare-cli-{os.getpid()}",
        clean_session=True,
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
