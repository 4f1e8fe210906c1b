"""Where an alarm's time goes, from its publish to its push at the stand-in, segment by segment.

Run: .venv/bin/python -m bench.timeline [--phases 3] [--messages 2000] [--rate 200]

The steady phase of bench.perf (2,000 messages at 200/s, 40 % alert-worthy), run --phases
times after one to warm up, through the real hub started as `bench.traced_hub` (the hub with
the moments of its alarm path noted). Each alert's push to Alice is cut into:

  publish>read   the bench's QoS 1 publish to the hub's wake-up that read the packet off its
                 socket (below zero when that wake-up began before the publish: it read on
                 while the packet came)
  read>batch     that wake-up to the batch beginning (paho, the inbox, the batch's wait)
  decide         the batch's beginning to its commit's: decoding and the engine
  commit         the alarm's transaction (events, incident, outbox entries)
  commit>send    the commit's end to the push's send beginning (the dispatcher's queue)
  send>stand-in  the send beginning to the stand-in reading the request: aiohttp's request,
                 loopback, and the stand-in's own wake-up (a process sharing the cores)

and the alerts are put in bands by their total: the middle (p40-p60), p95-p98 and the slowest
2 %, each segment's median printed for each band. Every clock read is the system's monotonic
clock, in the bench's process, the stand-in's and the hub's alike. Which segment grows in the
tail is what a change to the hub's latency must answer; bench.perf gives the figures that count.
"""

import argparse
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from bench.hubproc import HubUnderTest
from bench.latency import Publisher, Sent
from bench.phones import Arrival, Phones
from bench.traced_hub import ENV
from bench.traffic import ALERT_CYCLE, Household, alert_kind, config_toml
from hub.mqtt.broker import LocalBroker, free_port

SEGMENTS = ("publish>read", "read>batch", "decide", "commit", "commit>send", "send>stand-in")
BANDS = (("p40-p60", 0.40, 0.60), ("p95-p98", 0.95, 0.98), ("slowest 2%", 0.98, 1.0))
ALERT_SHARE = 0.4  # the steady phase of bench.perf
QUIET_S = 1.5
COLLECT_LIMIT_S = 120.0
DUMP_WAIT_S = 5.0
MS = 1e6  # nanoseconds in a millisecond
T = TypeVar("T")


class TimelineError(Exception):
    """The hub's notes and the bench's alerts do not pair up (named in the message)."""


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alert's moments, in nanoseconds of the monotonic clock."""

    published: int
    read: int
    batch: int
    commit: int
    committed: int
    send: int
    arrived: int

    def segments(self) -> dict[str, float]:
        """Each segment's length in milliseconds, and the total."""
        marks = (
            self.published, self.read, self.batch, self.commit, self.committed, self.send,
            self.arrived,
        )  # fmt: skip
        spans = {
            name: (end - start) / MS
            for name, start, end in zip(SEGMENTS, marks[:-1], marks[1:], strict=True)
        }
        return {**spans, "total": (self.arrived - self.published) / MS}


def pair_up(
    sent: Sequence[Sent], arrivals: Sequence[Arrival], notes: dict[str, Any]
) -> list[Alarm]:
    """Each alert with its batch, its push's send and its push's arrival.

    The hub reads the alerts in the order they were published; its pushes may go in another
    (an incident's later news waits behind the first push of a newer one), but the alerts of
    one kind are raised one after another: their sends and pushes are paired first with first.

    Raises:
        TimelineError: a send or push that is no alert, or counts that differ (named).
    """
    reads = [(read, batch) for batch in notes["batches"] for read in batch["read_ns"]]
    if len(reads) != len(sent):
        raise TimelineError(f"{len(sent)} alerts published, {len(reads)} read by the hub")
    sends = _by_kind([(send["text"], send) for send in notes["sends"]], "send")
    pushes = _by_kind(
        [(a.text, a) for a in sorted(arrivals, key=lambda a: a.at) if a.channel == "ntfy"], "push"
    )
    alerts = _by_kind([(str(alert.kind), alert) for alert in sent], "alert")
    for kind, of_kind in alerts.items():
        counts = (len(of_kind), len(sends.get(kind, [])), len(pushes.get(kind, [])))
        if len(set(counts)) != 1:
            raise TimelineError(
                f"{kind}: {counts[0]} alerts, {counts[1]} sends, {counts[2]} pushes"
            )
    taken = {kind: iter(zip(sends[kind], pushes[kind], strict=True)) for kind in alerts}
    alarms = []
    for index, (alert, (read, batch)) in enumerate(zip(sent, reads, strict=True)):
        if read is None:
            raise TimelineError(f"alert {index} has no time of reading")
        send, push = next(taken[alert.kind])
        alarms.append(
            Alarm(
                published=round(alert.at * 1e9),
                read=read,
                batch=batch["began_ns"],
                commit=batch["commit_ns"],
                committed=batch["committed_ns"],
                send=send["at_ns"],
                arrived=round(push.at * 1e9),
            )
        )
    return alarms


def _by_kind(items: Sequence[tuple[str, T]], what: str) -> dict[str, list[T]]:
    """Items by the kind of alert their text (or kind) names, in order.

    Raises:
        TimelineError: one names none.
    """
    found: dict[str, list[T]] = {}
    for text, item in items:
        kind = text if text in ALERT_CYCLE else alert_kind(text)
        if kind is None:
            raise TimelineError(f"a {what} that is no alert: {text!r}")
        found.setdefault(kind, []).append(item)
    return found


def bands(alarms: Sequence[Alarm]) -> dict[str, dict[str, float]]:
    """Per band of totals, each segment's median and the total's (ms)."""
    rows = sorted((a.segments() for a in alarms), key=lambda r: r["total"])
    table = {}
    for name, low, high in BANDS:
        chosen = rows[int(low * len(rows)) : max(int(high * len(rows)), int(low * len(rows)) + 1)]
        table[name] = {k: statistics.median(r[k] for r in chosen) for k in (*SEGMENTS, "total")}
    return table


@contextlib.contextmanager
def traced_hub(workdir: Path) -> Iterator[tuple[Publisher, Phones, HubUnderTest, Path]]:
    """A broker, the stand-ins and the traced hub; a publisher to it, and where its notes go."""
    with LocalBroker(workdir / "broker", kind="mosquitto") as broker, Phones() as phones:
        config = workdir / "hub.toml"
        config.write_text(
            config_toml(
                mqtt_port=broker.port,
                db=workdir / "hub.db",
                web_port=free_port(),
                ntfy=phones.ntfy_url,
                twilio=phones.twilio_url,
            )
        )
        config.chmod(0o640)  # it holds the Twilio token
        notes = workdir / "timeline.json"
        hub = HubUnderTest(config, env={ENV: str(notes)}, module="bench.traced_hub")
        try:
            hub.start()
            publisher = Publisher(broker.host, broker.port)
            try:
                yield publisher, phones, hub, notes
            finally:
                publisher.close()
        finally:
            hub.kill()


def _notes(hub: HubUnderTest, path: Path) -> dict[str, Any]:
    """Have the hub write what it noted since the last time, and read it."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    os.kill(hub.pid, signal.SIGUSR1)
    deadline = time.monotonic() + DUMP_WAIT_S
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimelineError("the traced hub wrote no notes")
        time.sleep(0.05)
    notes: dict[str, Any] = json.loads(path.read_text())
    return notes


def run(phases: int, messages: int, rate: float) -> list[Alarm]:
    """`phases` steady phases after one to warm up: every alert's moments."""
    with tempfile.TemporaryDirectory() as tmp, traced_hub(Path(tmp)) as (pub, phones, hub, path):
        home = Household()
        alarms: list[Alarm] = []
        for phase in range(phases + 1):
            sent, _ = pub.publish(home.stream(messages, ALERT_SHARE), rate)
            arrivals = phones.collect(quiet_s=QUIET_S, limit_s=COLLECT_LIMIT_S)
            found = pair_up(sent, arrivals, _notes(hub, path))
            if phase:
                alarms.extend(found)
        return alarms


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phases", type=int, default=3, help="steady phases after a warm-up")
    parser.add_argument("--messages", type=int, default=2000, help="messages in a phase")
    parser.add_argument("--rate", type=float, default=200.0, help="messages per second")
    args = parser.parse_args()
    try:
        alarms = run(args.phases, args.messages, args.rate)
    except TimelineError as err:
        sys.exit(f"bench.timeline: {err}")
    print(f"{len(alarms)} pushes; medians per band of totals (ms)")
    print(f"{'band':<11}" + "".join(f"{k:>14}" for k in (*SEGMENTS, "total")))
    for name, row in bands(alarms).items():
        print(f"{name:<11}" + "".join(f"{row[k]:>14.3f}" for k in (*SEGMENTS, "total")))


if __name__ == "__main__":
    main()
