"""The figures of `bench.perf` beside the targets of issue 9 and a Node-RED flow's.

Node-RED 4.1 (Node 20), MQTT in -> function -> HTTP request to a push service, measured on the
same kind of machine with Mosquitto 2.0.11 on loopback and QoS 1. It stores nothing.
"""

from typing import Any

from bench.ratios import print_ratios
from bench.stages import print_budget
from bench.sustained import best

# (label, where in the results, target as text, target test, Node-RED's figure)
Row = tuple[str, tuple[str, ...], str, Any, str]
LATENCY_ROWS: list[Row] = [
    ("steady 200/s p50 (ms)", ("steady", "p50_ms"), "< 2", lambda v: v < 2, "3.1"),
    ("steady 200/s p95 (ms)", ("steady", "p95_ms"), "", None, "9.2"),
    ("steady 200/s p99 (ms)", ("steady", "p99_ms"), "< 5", lambda v: v < 5, "~20 (11-22)"),
    ("steady 200/s max (ms)", ("steady", "max_ms"), "", None, ""),
    ("burst 1,000 p50 (ms)", ("burst", "p50_ms"), "", None, "461"),
    ("burst 1,000 p95 (ms)", ("burst", "p95_ms"), "", None, ""),
    ("burst 1,000 p99 (ms)", ("burst", "p99_ms"), "< 150", lambda v: v < 150, "747"),
    ("burst 1,000 max (ms)", ("burst", "max_ms"), "", None, ""),
    ("emergencies in burst p99 (ms)", ("priority", "p99_ms"), "< 20", lambda v: v < 20, ""),
    ("emergencies in burst max (ms)", ("priority", "max_ms"), "", None, ""),
]
FOOTPRINT_ROWS: list[Row] = [
    ("RSS after start (MiB)", ("rss_start_mib",), "< 60", lambda v: v < 60, "116"),
    ("peak RSS, VmHWM (MiB)", ("rss_peak_mib",), "< 90", lambda v: v < 90, "148"),
    ("start-up to ready (s)", ("startup_s",), "< 1.5", lambda v: v < 1.5, ""),
    ("idle CPU (%)", ("idle_cpu_percent",), "< 1", lambda v: v < 1, ""),
    ("idle wake-ups (/s)", ("wakeups_per_s",), "", None, ""),
]
COUNTS = ("alerts_expected", "delivered", "duplicated", "wrongly_sent")


def _get(results: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = results
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _verdict(value: Any, test: Any) -> str:
    if test is None:
        return ""
    if value is None:
        return "no figure"
    return "met" if test(value) else "NOT met"


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}" if value < 100 else f"{value:.0f}"


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(
        zip(cells, widths, strict=True)))  # fmt: skip


def print_table(results: dict[str, Any]) -> None:
    floor = results.get("floor")
    rows = [["figure", "ours", "target", "", "Node-RED", *(["bare forwarder"] if floor else [])]]
    for label, path, target, test, node_red in [*LATENCY_ROWS, *FOOTPRINT_ROWS]:
        value = _get(results, path)
        row = [label, _shown(value), target, _verdict(value, test), node_red]
        if floor:
            row.append(_shown(_get(floor, path)) if path[0] in floor else "")
        rows.append(row)
    sustained = results.get("sustained") or {}
    messages = sustained.get("median_msg_per_s")
    events, cpu = sustained.get("median_events_per_s"), sustained.get("median_cpu_us_per_msg")
    runs = len(sustained.get("runs", []))
    rows.append([
        f"sustained, median of {runs} (msg/s)", "-" if messages is None else f"{messages:,.0f}",
        ">= 5,000", _verdict(messages, lambda v: v >= 5000), "", *([""] if floor else []),
    ])  # fmt: skip
    rows.append([
        "  of which event rows (/s)", "-" if events is None else f"{events:,.0f}",
        "", "", "", *([""] if floor else []),
    ])  # fmt: skip
    rows.append([
        "  hub CPU per message (us)", "-" if cpu is None else f"{cpu:.0f}",
        "", "", "", *([""] if floor else []),
    ])  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(_line(row, widths))
    print()
    print("alerts (expected / delivered / duplicated / wrongly sent), target: all delivered, 0, 0")
    for phase in ("steady", "burst", "priority"):
        counts = " / ".join(str(_get(results, (phase, c))) for c in COUNTS)
        print(f"  {phase:<9} {counts}")
    print()
    _print_sustained(sustained.get("runs", []))
    if "stages" in results:
        print_budget(results["stages"])
        print()
    print("Node-RED stores nothing; the hub commits every event and notification first.")
    print(
        "A device's check-in commits its last-seen time and battery, not an event row: about"
        " a fifth of the bench's messages."
    )
    if floor:
        print(
            "The bare forwarder (bench.floor) stores and decides nothing: one request per channel"
            " for each alert, through the same MQTT session. What it cannot reach, no Python hub"
            " on this machine can."
        )
    print()
    print_ratios(results, messages)
    print("Shared or busy machines give noisy figures: re-run `python -m bench.perf` to compare.")


def _print_sustained(runs: list[list[dict[str, Any]]]) -> None:
    print(
        "sustained steps: offered msg/s -> committed msg/s (event rows/s), alert p99,"
        " last commit after, hub CPU per committed message; * the run's best"
    )
    for number, steps in enumerate(runs, 1):
        print(f"  run {number}")
        top = best(steps)
        for step in steps:
            p99 = step["p99_ms"]
            print(
                f"  {'*' if step is top else ' '} {step['offered_msg_per_s']:8,.0f}"
                f" -> {step['messages_per_s']:8,.0f} ({step['events_per_s']:6,.0f})"
                f"   p99 {'-' if p99 is None else f'{p99:7.1f}'}"
                f"   last commit {step['behind_s'] * 1000:6.0f} ms after the last publish"
                f"   {step['cpu_us_per_msg']:5.0f} us/msg"
                f"   delivered {step['delivered']}/{step['alerts_expected']}"
            )
    print()
