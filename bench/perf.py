"""The hub end to end, on a Pi budget: latency, priority, throughput and footprint.

Run: .venv/bin/python -m bench.perf [--json] [--idle-s 30] [--step-s 3] [--floor] [--node-red]

A real Mosquitto on a free loopback port (QoS 1), the real hub process with 50 paired devices
(native and Zigbee2MQTT), and the ntfy and Twilio stand-ins in a child process. Each alert is
timed from its publish to the first HTTP request of its notification at a stand-in, through
decode, store, engine and notifier. Phases, in order, on one hub:

  start-up   launch to "hub ready"; RSS once settled; idle CPU and wake-ups over --idle-s
  steady     2,000 messages at 200/s, 40 % alert-worthy
  burst      1,000 messages back to back, 40 % alert-worthy
  priority   1,000 back to back: 990 of everyday telemetry with 10 emergencies hidden in them
  sustained  1 % alert-worthy, the rate raised step by step until p99 > 100 ms or the store
             falls behind; messages/s committed to the store (each message's event, or for a
             check-in the device's last-seen and battery, is committed before its PUBACK), and
             of them the event rows/s
  peak RSS   VmHWM at the end

With --floor, the steady, burst and priority phases are run again through a bare forwarder
(bench.floor: the same MQTT session, one request per channel, nothing decided or stored), and
its figures printed beside the hub's: the least any Python hub could do on this machine.

With --node-red, the steady, burst and priority phases and a back-to-back sustained run go
through a Node-RED flow doing the same forwarding (bench.nodered), and the hub's figures are
printed as ratios to both peers, beside the goals (bench.ratios).

The machine may be shared: figures are noisy. Re-run to compare; never read one run alone.
"""

import argparse
import json
import logging
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.floor import measure_floor
from bench.hubproc import HubUnderTest
from bench.latency import Outcome, Publisher, run_phase
from bench.nodered import measure_node_red
from bench.phones import Phones
from bench.report import print_table
from bench.traffic import Household, config_toml
from hub.mqtt.broker import LocalBroker, free_port

SETTLE_S = 2.0
SUSTAINED_RATES = (1000, 2000, 3000, 4000, 5000, 5500, 6000, 6500, 7000, 8000, 10000, 15000)
SUSTAINED_P99_MS = 100.0
BEHIND_LIMIT_S = 0.1  # the engine keeps up: the last commit comes this soon after the last publish


class CommitWatch:
    """Watches the store from another thread: when did it last take an event?

    One read-only connection for the whole watch: opening one per look cost some 15 % of a
    core, taken from the hub on a machine the phase keeps busy.
    """

    def __init__(self, db: Path) -> None:
        self._conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
        self.first = self.newest = self._last_event_id()
        self.grew_at = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "CommitWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()

    def _last_event_id(self) -> int:
        row = self._conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
        return int(row[0])

    def _watch(self) -> None:
        while not self._stop.wait(0.002):
            newest = self._last_event_id()
            if newest != self.newest:
                self.newest, self.grew_at = newest, time.monotonic()


def idle(hub: HubUnderTest, seconds: float) -> dict[str, float]:
    before = hub.usage()
    time.sleep(seconds)
    after = hub.usage()
    span = after.at - before.at
    return {
        "idle_cpu_percent": 100 * (after.cpu_s - before.cpu_s) / span,
        "wakeups_per_s": (after.wakeups - before.wakeups) / span,
    }


def sustained(
    publisher: Publisher, phones: Phones, home: Household, db: Path, step_s: float
) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for rate in SUSTAINED_RATES:
        messages = home.stream(int(rate * step_s), 0.01)
        with CommitWatch(db) as watch:
            started = time.monotonic()
            outcome = run_phase(publisher, phones, messages, rate)
        committed = watch.newest - watch.first
        behind_s = watch.grew_at - started - outcome.published_s
        took_s = max(watch.grew_at - started, 1e-9)
        row = {
            "offered_msg_per_s": len(messages) / outcome.published_s,
            # The hub takes messages in order: once the step's last event row is committed,
            # so is every message before it.
            "messages_per_s": len(messages) / took_s,
            "committed_events": committed,
            "events_per_s": committed / took_s,
            "behind_s": behind_s,
            **outcome.summary(),
        }
        steps.append(row)
        p99 = outcome.percentile(0.99)
        if p99 is None or p99 > SUSTAINED_P99_MS or outcome.delivered < outcome.expected:
            break
        if behind_s > BEHIND_LIMIT_S:
            break
    return steps


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with LocalBroker(workdir / "broker", kind="mosquitto") as broker, Phones() as phones:
        db = workdir / "hub.db"
        config = workdir / "hub.toml"
        config.write_text(
            config_toml(
                mqtt_port=broker.port,
                db=db,
                web_port=free_port(),
                ntfy=phones.ntfy_url,
                twilio=phones.twilio_url,
            )
        )
        config.chmod(0o640)  # it holds the Twilio token
        hub = HubUnderTest(config)
        try:
            results["startup_s"] = hub.start()
            time.sleep(SETTLE_S)
            results["rss_start_mib"] = hub.status_kib("VmRSS") / 1024
            results.update(idle(hub, args.idle_s))
            publisher = Publisher(broker.host, broker.port)
            home = Household()
            phases: dict[str, Outcome] = {
                "steady": run_phase(publisher, phones, home.stream(2000, 0.4), 200.0),
                "burst": run_phase(publisher, phones, home.stream(1000, 0.4), None),
                "priority": run_phase(publisher, phones, home.stream(1000, 0.01), None),
            }
            results.update({name: o.summary() for name, o in phases.items()})
            results["sustained"] = sustained(publisher, phones, home, db, args.step_s)
            results["rss_peak_mib"] = hub.status_kib("VmHWM") / 1024
            publisher.close()
            code, _ = hub.stop()
            results["hub_exit_code"] = code
        finally:
            hub.kill()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="one JSON object with every figure")
    parser.add_argument("--idle-s", type=float, default=30.0, help="idle CPU window (s)")
    parser.add_argument("--step-s", type=float, default=3.0, help="length of a sustained step")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run the latency phases through a bare forwarder that stores nothing",
    )
    parser.add_argument(
        "--node-red",
        action="store_true",
        help="also run the phases through a Node-RED flow doing the same job (bench.nodered)",
    )
    args = parser.parse_args()
    logging.getLogger("telecare").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(args, Path(tmp))
    if args.floor:
        results["floor"] = measure_floor()
    if args.node_red:
        node_red = measure_node_red()
        if "skipped" in node_red:
            results["node_red_skipped"] = node_red["skipped"]
        else:
            results["node_red"] = node_red
    if args.json:
        print(json.dumps(results))
    else:
        print_table(results)


if __name__ == "__main__":
    main()
