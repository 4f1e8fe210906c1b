"""Publishing a phase of traffic and matching each alert to the requests it caused."""

import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.phones import Arrival, Phones
from bench.traffic import CHANNELS_PER_ALERT, AlertKind, Message, alert_kind

QUIET_S = 1.5  # no request for this long: the hub has sent everything it will send
COLLECT_LIMIT_S = 120.0


@dataclass
class Sent:
    """An alert-worthy message and when it was published."""

    kind: AlertKind
    at: float


@dataclass
class Outcome:
    """What one phase achieved, from the carers' phones' point of view."""

    latencies_ms: list[float] = field(default_factory=list)
    expected: int = 0
    delivered: int = 0
    duplicated: int = 0
    wrongly_sent: int = 0
    published_s: float = 0.0

    def percentile(self, share: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]

    def summary(self) -> dict[str, float | int | None]:
        values = self.latencies_ms
        return {
            "p50_ms": statistics.median(values) if values else None,
            "p95_ms": self.percentile(0.95),
            "p99_ms": self.percentile(0.99),
            "max_ms": max(values) if values else None,
            "alerts_expected": self.expected,
            "delivered": self.delivered,
            "duplicated": self.duplicated,
            "wrongly_sent": self.wrongly_sent,
        }


class Publisher:
    """One MQTT client publishing with QoS 1, as the home's devices and bridge would.

    Each message is written to the socket by the call that stamps it, in this thread. With a
    network thread of paho's own, that thread takes the interpreter's lock only every few
    milliseconds while a burst is being stamped, and a message would leave well after its
    stamp (the last of a back-to-back 1,000 some 40 ms after, with a bare subscriber on the
    other side): the hub would be charged for the bench's own wait. Between paced messages,
    and after the last, this thread reads the broker's acknowledgements.
    """

    KEEPALIVE_S = 600  # nothing is read while the bench waits for the phones
    SETTLE_LIMIT_S = 30.0

    def __init__(self, host: str, port: int) -> None:
        self._client = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-devices")
        self._client.max_inflight_messages_set(65000)  # back to back means back to back
        self._client.max_queued_messages_set(0)
        self._client.connect(host, port, keepalive=self.KEEPALIVE_S)
        self._pump(self._client.is_connected, "the bench could not connect to its broker")

    def close(self) -> None:
        self._client.disconnect()

    def publish(self, messages: list[Message], rate: float | None) -> tuple[list[Sent], float]:
        """Publish at `rate` per second (None: back to back); returns alerts and seconds taken."""
        sent: list[Sent] = []
        last: paho.MQTTMessageInfo | None = None
        started = time.monotonic()
        for index, message in enumerate(messages):
            if rate is not None:
                self._read_until(started + index / rate)
            at = time.monotonic()
            last = self._client.publish(message.topic, message.payload, qos=1)
            if message.alert is not None:
                sent.append(Sent(message.alert, at))
        took = time.monotonic() - started
        if last is not None:
            acknowledged = last.is_published  # Mosquitto acknowledges QoS 1 in order
            self._pump(acknowledged, "the broker did not acknowledge the bench's messages")
        return sent, took

    def _read_until(self, deadline: float) -> None:
        """Read the broker's acknowledgements until `deadline` (the next message's turn)."""
        while (left := deadline - time.monotonic()) > 0:
            self._client.loop(left)

    def _pump(self, done: Callable[[], bool], failure: str) -> None:
        """Read and write until `done()`; stop the bench if it takes too long."""
        deadline = time.monotonic() + self.SETTLE_LIMIT_S
        while not done():
            if time.monotonic() > deadline:
                raise SystemExit(failure)
            self._client.loop(0.01)


def run_phase(
    publisher: Publisher, phones: Phones, messages: list[Message], rate: float | None
) -> Outcome:
    """Publish, wait for the phones to go quiet, and match requests to alerts."""
    sent, took = publisher.publish(messages, rate)
    arrivals = phones.collect(quiet_s=QUIET_S, limit_s=COLLECT_LIMIT_S)
    outcome = match(sent, arrivals)
    outcome.published_s = took
    return outcome


def match(sent: list[Sent], arrivals: list[Arrival]) -> Outcome:
    """Pair each channel's requests with the alerts of their kind, first with first.

    Alerts of one kind are raised one after another, so their requests come in that order on
    each channel (two requests of one burst may swap, which leaves the distribution as it is).
    A request for an incident and text already seen on ntfy, or beyond the alerts of its kind,
    is a duplicate; a request that is no alert at all was sent wrongly.
    """
    outcome = Outcome(expected=len(sent))
    by_kind: dict[AlertKind, list[Sent]] = defaultdict(list)
    for item in sent:
        by_kind[item.kind].append(item)
    queues: dict[tuple[AlertKind, str], list[Arrival]] = defaultdict(list)
    seen: set[tuple[str | None, str]] = set()
    for arrival in sorted(arrivals, key=lambda a: a.at):
        kind = alert_kind(arrival.text)
        if kind is None:
            outcome.wrongly_sent += 1
            continue
        if arrival.sequence is not None:
            if (arrival.sequence, arrival.text) in seen:
                outcome.duplicated += 1
                continue
            seen.add((arrival.sequence, arrival.text))
        queues[kind, arrival.channel].append(arrival)
    firsts: dict[int, list[float]] = defaultdict(list)  # id(alert) -> arrival times
    for (kind, _channel), found in queues.items():
        alerts = by_kind.get(kind, [])
        outcome.duplicated += max(0, len(found) - len(alerts))
        for alert, arrival in zip(alerts, found, strict=False):
            firsts[id(alert)].append(arrival.at)
    for alert in sent:
        times = firsts.get(id(alert), [])
        if times:
            outcome.latencies_ms.append((min(times) - alert.at) * 1000)
        if len(times) == CHANNELS_PER_ALERT:
            outcome.delivered += 1
    return outcome
