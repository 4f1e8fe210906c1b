"""The hub's latency budget per stage, read from the running hub's `/metrics`.

The hub times each message through read, decode, engine and store, and each incident's first
notification of a commit through dispatch (`hub.pipeline.stages`, `telecare_stage_seconds`).
A phase's budget is the difference of the histograms read before and after it; p50 and p99
are estimated within their bucket (the buckets go 1, 2, 3, 5, 7 in each power of ten), as
Prometheus' `histogram_quantile` does. Shares are of the mean: each stage's mean over a
message's mean time from read to commit (alarms: to its first request's send beginning, with
dispatch), and "in its batch" is what is left, the wait for the batch's other messages.
"""

import math
import re
import urllib.request
from dataclasses import dataclass
from typing import Any

METRIC = "telecare_stage_seconds"
MESSAGE_STAGES = ("read", "decode", "engine", "store")
PATHS = ("alarm", "telemetry")
FETCH_LIMIT_S = 60.0  # the first visit loads the dashboard
_SAMPLE = re.compile(
    rf'^{METRIC}_(bucket|sum|count)\{{path="([^"]+)",stage="([^"]+)"(?:,le="([^"]+)")?\}} (\S+)$'
)


@dataclass
class Series:
    """One stage's histogram: cumulative counts by upper bound (s), its sum (s) and count."""

    buckets: dict[float, float]
    sum_s: float = 0.0
    count: float = 0.0

    def minus(self, before: "Series | None") -> "Series":
        if before is None:
            return self
        buckets = {le: n - before.buckets.get(le, 0.0) for le, n in self.buckets.items()}
        return Series(buckets, self.sum_s - before.sum_s, self.count - before.count)

    @property
    def mean_s(self) -> float | None:
        return self.sum_s / self.count if self.count > 0 else None

    def quantile(self, share: float) -> float | None:
        """The `share` quantile, linear within its bucket; None without observations."""
        if self.count <= 0:
            return None
        rank = share * self.count
        lower, below = 0.0, 0.0
        for le, cumulative in sorted(self.buckets.items()):
            if cumulative >= rank:
                if math.isinf(le):
                    return lower  # beyond the last bound: say the bound
                inside = cumulative - below
                return lower + (le - lower) * ((rank - below) / inside if inside else 1.0)
            lower, below = le, cumulative
        return lower


Histograms = dict[tuple[str, str], Series]


def parse(text: str) -> Histograms:
    """Every `telecare_stage_seconds` series in a `/metrics` text, by (path, stage)."""
    found: Histograms = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        kind, path, stage, le, value = match.groups()
        series = found.setdefault((path, stage), Series({}))
        if kind == "bucket":
            series.buckets[float(le)] = float(value)
        elif kind == "sum":
            series.sum_s = float(value)
        else:
            series.count = float(value)
    return found


def read(url: str) -> Histograms:
    """The stage histograms of the hub whose `/metrics` is at `url` (empty if it has none)."""
    with urllib.request.urlopen(url, timeout=FETCH_LIMIT_S) as reply:
        return parse(reply.read().decode())


def delta(after: Histograms, before: Histograms) -> Histograms:
    """What was observed between two reads."""
    return {key: series.minus(before.get(key)) for key, series in after.items()}


def _row(name: str, series: Series | None, mean_s: float | None, whole_s: float) -> dict[str, Any]:
    quantiles = (None, None) if series is None else (series.quantile(0.5), series.quantile(0.99))
    return {
        "stage": name,
        "count": None if series is None else int(series.count),
        "p50_s": quantiles[0],
        "p99_s": quantiles[1],
        "mean_s": mean_s,
        "share": None if mean_s is None or whole_s <= 0 else mean_s / whole_s,
    }


def budget(observed: Histograms) -> dict[str, list[dict[str, Any]]]:
    """Per path, a row per stage: count, p50, p99, mean and share of the whole (seconds)."""
    budgets: dict[str, list[dict[str, Any]]] = {}
    dispatch = observed.get(("notification", "dispatch"))
    for path in PATHS:
        total = observed.get((path, "total"))
        if total is None or total.mean_s is None:
            continue
        stages = {stage: observed.get((path, stage)) for stage in MESSAGE_STAGES}
        means = {stage: (s.mean_s if s else None) or 0.0 for stage, s in stages.items()}
        waited = total.mean_s - sum(means.values())
        dispatch_s = dispatch.mean_s if path == "alarm" and dispatch is not None else None
        whole = total.mean_s + (dispatch_s or 0.0)
        rows = [_row(stage, stages[stage], means[stage], whole) for stage in MESSAGE_STAGES]
        rows.append(_row("in its batch", None, waited, whole))
        if dispatch_s is not None:
            rows.append(_row("dispatch", dispatch, dispatch_s, whole))
        rows.append(_row("read to commit", total, total.mean_s, whole))
        if dispatch_s is not None:
            rows.append(_row("read to send", None, whole, whole))
        budgets[path] = rows
    return budgets


def _time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 0.001:  # under a millisecond: in microseconds
        return f"{seconds * 1e6:.0f} us"
    return f"{seconds * 1000:.2f} ms"


def print_budget(phases: dict[str, Any]) -> None:
    """The stage table of each phase that was run with the hub's metrics read around it."""
    print(
        "latency budget per stage (the hub's /metrics; steady, burst and priority run again once"
        " the footprint was measured, as the first read loads the dashboard)"
    )
    for phase, figures in phases.items():
        alerts = figures["alerts"]
        print(
            f"  {phase}: this run's alerts p50 {_time(_seconds(alerts['p50_ms']))},"
            f" p99 {_time(_seconds(alerts['p99_ms']))}"
        )
        if not figures["stages"]:
            print("    no stage timings: this hub does not expose telecare_stage_seconds")
        for path, rows in figures["stages"].items():
            print(f"    {path:<16} {'count':>7} {'p50':>10} {'p99':>10} {'mean':>10} {'share':>6}")
            for row in rows:
                count = "" if row["count"] is None else f"{row['count']:,}"
                share = "" if row["share"] is None else f"{row['share']:.0%}"
                print(
                    f"      {row['stage']:<14} {count:>7} {_time(row['p50_s']):>10}"
                    f" {_time(row['p99_s']):>10} {_time(row['mean_s']):>10} {share:>6}"
                )
    print(
        "  read: from the socket read to the event path taking it; store: the batch's commit;"
        " in its batch: waiting for the batch's other messages; dispatch: commit to send begun"
    )


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000
