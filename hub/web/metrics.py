"""`/metrics` in the Prometheus text exposition format (version 0.0.4)."""

import asyncio
from collections.abc import Mapping
from typing import get_args

from hub.pipeline.inbox import Inbox
from hub.pipeline.stages import BOUNDS_NS, StageTimings
from hub.store.records import StoreTallies
from notifier.model import DeliveryState
from rules.incidents import IncidentState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render_metrics(
    tallies: StoreTallies,
    dropped: Mapping[str, int],
    inbox: Inbox,
    *,
    broker_connected: bool,
    stages: StageTimings | None = None,
) -> str:
    """Every series the hub exposes, with zeroes for states that have none yet."""
    lines: list[str] = []
    _family(lines, "telecare_events_total", "counter", "Device events accepted and stored.")
    lines.append(f"telecare_events_total {tallies.events}")
    _family(lines, "telecare_incidents", "gauge", "Incidents by state.")
    for state in get_args(IncidentState):
        lines.append(_sample("telecare_incidents", "state", state, tallies.incidents.get(state, 0)))
    _family(lines, "telecare_notifications", "gauge", "Notifications by delivery state.")
    for state in get_args(DeliveryState):
        count = tallies.notifications.get(state, 0)
        lines.append(_sample("telecare_notifications", "state", state, count))
    _family(
        lines,
        "telecare_notification_delivery_seconds",
        "summary",
        "From a notification being written to a channel taking it.",
    )
    lines.append(f"telecare_notification_delivery_seconds_sum {tallies.delivery_seconds:.3f}")
    lines.append(f"telecare_notification_delivery_seconds_count {tallies.delivered}")
    _family(
        lines, "telecare_dropped_inputs_total", "counter", "Inputs refused since start, by cause."
    )
    for cause, count in sorted(dropped.items()):
        lines.append(_sample("telecare_dropped_inputs_total", "cause", cause, count))
    _inbox(lines, inbox)
    _family(lines, "telecare_broker_connected", "gauge", "1 while the MQTT broker is reachable.")
    lines.append(f"telecare_broker_connected {int(broker_connected)}")
    _family(lines, "telecare_tasks", "gauge", "Asyncio tasks alive in the hub (a leak grows it).")
    lines.append(f"telecare_tasks {len(asyncio.all_tasks())}")
    if stages is not None:
        _stages(lines, stages)
    return "\n".join(lines) + "\n"


def _inbox(lines: list[str], inbox: Inbox) -> None:
    _family(lines, "telecare_inbox_messages", "gauge", "Messages waiting for the event path.")
    lines.append(f"telecare_inbox_messages {inbox.qsize()}")
    _family(lines, "telecare_inbox_peak_messages", "gauge", "Most messages waiting at once.")
    lines.append(f"telecare_inbox_peak_messages {inbox.peak}")
    _family(
        lines,
        "telecare_inbox_pauses_total",
        "counter",
        "Times the hub stopped reading from the broker to catch up (back-pressure).",
    )
    lines.append(f"telecare_inbox_pauses_total {inbox.pauses}")


def _stages(lines: list[str], stages: StageTimings) -> None:
    name = "telecare_stage_seconds"
    _family(
        lines,
        name,
        "histogram",
        "Time in each stage of the event path (read, decode, engine, store, total per message"
        " of the alarm and telemetry paths; dispatch per notification).",
    )
    bounds = [*(f"{bound / 1e9:g}" for bound in BOUNDS_NS), "+Inf"]
    for path, stage, histogram in stages.series():
        labels = f'path="{path}",stage="{stage}"'
        running = 0
        for bound, count in zip(bounds, histogram.counts, strict=True):
            running += count
            lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {running}')
        lines.append(f"{name}_sum{{{labels}}} {histogram.sum_ns / 1e9:.9f}")
        lines.append(f"{name}_count{{{labels}}} {running}")


def _family(lines: list[str], name: str, kind: str, help_text: str) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")


def _sample(name: str, label: str, value: str, count: int) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{name}{{{label}="{escaped}"}} {count}'
