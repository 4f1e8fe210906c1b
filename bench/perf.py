"""The hub end to end, on a Pi budget: latency, priority, throughput and footprint.

Run: .venv/bin/python -m bench.perf [--json] [--idle-s 30] [--step-s 3] [--sustained-runs 3]
     [--floor] [--node-red]

A real Mosquitto on a free loopback port (QoS 1), the real hub process with 50 paired devices
(native and Zigbee2MQTT), and the ntfy and Twilio stand-ins in a child process. Each alert is
timed from its publish to the first HTTP request of its notification at a stand-in, through
decode, store, engine and notifier. Phases, in order, on one hub:

  start-up   launch to "hub ready"; RSS once settled; idle CPU and wake-ups over --idle-s
  steady     2,000 messages at 200/s, 40 % alert-worthy
  burst      1,000 messages back to back, 40 % alert-worthy
  priority   1,000 back to back: 990 of everyday telemetry with 10 emergencies hidden in them
  sustained  1 % alert-worthy, the rate raised step by step until the hub does not keep up
             (alert p99 > 100 ms, an alert not delivered, or the store more than 100 ms
             behind); messages/s committed to the store (each message's event, or for a
             check-in the device's last-seen and battery, is committed before its PUBACK), of
             them the event rows/s, and the hub's CPU time per committed message. The ramp is
             run --sustained-runs times (3) and the median of the runs' best steps reported:
             one stall of a shared machine ends one run early, not the figure
  peak RSS   VmHWM at the end
  stages     steady, burst and priority again, the hub's /metrics read before and after each: the
             latency budget per stage (read, decode, engine, store, dispatch; p50, p99, mean
             and share of the whole) of the alarm and telemetry paths (bench.stages). Last,
             because the first read of /metrics loads the dashboard (some 13 MB)

With --floor, the steady, burst and priority phases are run again through a bare forwarder
(bench.floor: the same MQTT session, one request per channel, nothing decided or stored), and
its figures printed beside the hub's: the least any Python hub could do on this machine. The
steady phase is also run in five pairs, the hub's and the forwarder's back to back (bench.paired),
right after the hub's phases: the steady goal is the median of the pairs' p99 ratios.

With --node-red, the steady, burst and priority phases and a back-to-back sustained run go
through a Node-RED flow doing the same forwarding (bench.nodered), and the hub's figures are
printed as ratios to both peers, beside the goals (bench.ratios): steady p99 within 1.5x the
bare forwarder's, emergencies in a burst at most 1/10 of the burst's p99, sustained msg/s (the
median) at least 5x Node-RED's, peak RSS at most 0.6x Node-RED's.

The machine may be shared: figures are noisy. Re-run to compare; never read one run alone.
"""

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import stages
from bench.floor import forwarder, measure_floor
from bench.hubproc import HubUnderTest
from bench.latency import Outcome, Publisher, run_phase
from bench.nodered import measure_node_red
from bench.paired import paired_steady
from bench.phones import Phones
from bench.report import print_table
from bench.sustained import sustained
from bench.traffic import Household, config_toml
from hub.mqtt.broker import LocalBroker, free_port

SETTLE_S = 2.0


def idle(hub: HubUnderTest, seconds: float) -> dict[str, float]:
    before = hub.usage()
    time.sleep(seconds)
    after = hub.usage()
    span = after.at - before.at
    return {
        "idle_cpu_percent": 100 * (after.cpu_s - before.cpu_s) / span,
        "wakeups_per_s": (after.wakeups - before.wakeups) / span,
    }


def stage_budget(
    publisher: Publisher, phones: Phones, home: Household, metrics_url: str
) -> dict[str, Any]:
    """steady, burst and priority again, the hub's stage histograms read before and after each.

    The first read of `/metrics` loads the dashboard (some 13 MB): this comes once the
    footprint has been measured.
    """
    stages.read(metrics_url)
    time.sleep(SETTLE_S)
    phases: dict[str, Any] = {}
    for name, messages, rate in (
        ("steady", home.stream(2000, 0.4), 200.0),
        ("burst", home.stream(1000, 0.4), None),
        ("priority", home.stream(1000, 0.01), None),
    ):
        before = stages.read(metrics_url)
        outcome = run_phase(publisher, phones, messages, rate)
        observed = stages.delta(stages.read(metrics_url), before)
        phases[name] = {"alerts": outcome.summary(), "stages": stages.budget(observed)}
    return phases


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with LocalBroker(workdir / "broker", kind="mosquitto") as broker, Phones() as phones:
        db = workdir / "hub.db"
        config = workdir / "hub.toml"
        web_port = free_port()
        config.write_text(
            config_toml(
                mqtt_port=broker.port,
                db=db,
                web_port=web_port,
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
            if args.floor:
                with forwarder() as floor_rig:
                    results["steady_pairs"] = paired_steady((publisher, phones), home, floor_rig)
            rig = (publisher, phones, hub)
            results["sustained"] = sustained(
                rig, home, db, step_s=args.step_s, runs=args.sustained_runs
            )
            results["rss_peak_mib"] = hub.status_kib("VmHWM") / 1024
            metrics_url = f"http://127.0.0.1:{web_port}/metrics"
            results["stages"] = stage_budget(publisher, phones, home, metrics_url)
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
        "--sustained-runs",
        type=_runs,
        default=3,
        help="times the sustained ramp is run; its figures are the median over them (default 3)",
    )
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


def _runs(text: str) -> int:
    try:
        runs = int(text)
    except ValueError:
        runs = 0
    if runs < 1:
        raise argparse.ArgumentTypeError(f"wants a whole number of runs >= 1, not {text!r}")
    return runs


if __name__ == "__main__":
    main()
