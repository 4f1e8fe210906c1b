"""The hub's figures as ratios to its peers measured in the same run, beside the goals.

Absolute figures on a shared machine move from run to run; ratios taken in one run do not.
Peers: the bare forwarder (`bench.floor`, stores and decides nothing) and, when measured, a
Node-RED flow doing the same forwarding (`results["node_red"]`, same keys as the floor's).
"""

from typing import Any

PHASES = ("steady", "burst", "priority")
PEERS = (("floor", "bare forwarder"), ("node_red", "Node-RED"))


def _ratio(ours: Any, theirs: Any) -> float | None:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float) or theirs <= 0:
        return None
    return ours / theirs


def _p99(results: dict[str, Any] | None, phase: str) -> Any:
    return ((results or {}).get(phase) or {}).get("p99_ms")


def goals(
    results: dict[str, Any], sustained_msg_per_s: float | None
) -> list[tuple[str, float | None, str, bool | None]]:
    """Each goal of the issue: (what, ratio or None, goal as text, met or None if unmeasured)."""
    floor = results.get("floor")
    node_red = results.get("node_red") or {}
    pairs = results.get("steady_pairs")
    steady = (
        pairs["median_ratio"] if pairs else _ratio(_p99(results, "steady"), _p99(floor, "steady"))
    )
    emergencies = _ratio(_p99(results, "priority"), _p99(results, "burst"))
    throughput = _ratio(sustained_msg_per_s, node_red.get("sustained_msg_per_s"))
    rss = _ratio(results.get("rss_peak_mib"), node_red.get("rss_peak_mib"))
    return [
        ("steady p99, hub / bare forwarder (paired)", steady, "<= 1.5", _at_most(steady, 1.5)),
        ("emergencies' p99 / burst's all-alerts p99", emergencies, "<= 0.1",
         _at_most(emergencies, 0.1)),
        ("sustained msg/s (median), hub / Node-RED", throughput, ">= 5",
         None if throughput is None else throughput >= 5),
        ("peak RSS, hub / Node-RED", rss, "<= 0.6", _at_most(rss, 0.6)),
    ]  # fmt: skip


def _at_most(value: float | None, bound: float) -> bool | None:
    return None if value is None else value <= bound


def print_ratios(results: dict[str, Any], sustained_msg_per_s: float | None) -> None:
    """Prints each phase's p99 as hub / peer, then the goals with met or not met.

    `sustained_msg_per_s` is the hub's median over its sustained runs (`bench.sustained`).
    """
    print("p99 as hub / peer, same run (1.00 = as fast as the peer)")
    for key, name in PEERS:
        peer = results.get(key)
        if not peer:
            reason = results.get(f"{key}_skipped", "not measured (bench.perf --floor --node-red)")
            print(f"  {name:<15} {reason}")
            continue
        cells = []
        for phase in PHASES:
            ratio = _ratio(_p99(results, phase), _p99(peer, phase))
            cells.append(f"{phase} {'-' if ratio is None else f'{ratio:.2f}x'}")
        print(f"  {name:<15} " + "   ".join(cells))
    node_red = results.get("node_red")
    if node_red:
        print(
            f"  Node-RED flat out: {node_red['sustained_msg_per_s']:,.0f} msg/s taken"
            f" (acknowledged on receipt), peak RSS {node_red['rss_peak_mib']:.1f} MiB"
        )
    pairs = (results.get("steady_pairs") or {}).get("pairs", [])
    if pairs:
        shown = ", ".join(f"{r['hub_p99_ms']:.2f}/{r['floor_p99_ms']:.2f}" for r in pairs)
        ratios = ", ".join(f"{r['ratio']:.2f}" for r in pairs)
        print(f"  steady in pairs, back to back: p99 hub/forwarder (ms) {shown}; ratios {ratios}")
    print()
    print("goals")
    for label, value, text, met in goals(results, sustained_msg_per_s):
        verdict = "not measured" if met is None else "met" if met else "NOT met"
        shown = "-" if value is None else f"{value:.2f}"
        print(f"  {label:<44} {shown:>7}  goal {text:<7} {verdict}")
