"""A burst ten times the sustained rate: bounded memory, every event stored once, alarms told.

The real hub process and a real Mosquitto. The burst is what a Zigbee network sends when it
comes back after a power cut: every motion and temperature sensor reporting at once, at QoS 0
as Zigbee2MQTT publishes by default, so nothing but the hub's own back-pressure keeps them from
piling up in its memory. Pendant presses come at QoS 1 in the middle of it.
"""

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx  # noqa: TID251  # reads the hub's /metrics as a monitor would
import pytest

from hub.mqtt.broker import LocalBroker
from hub.pipeline.inbox import HIGH_WATER
from hub.store.store import Store
from tests.support.hubs import DEVICES, HubProcess, config_data, device_client, write_toml
from tests.support.load import Message, dashboard_url, memory_mib, publish_paced, read_metrics
from tests.support.reliability import record
from wire.schema import event_topic

SUSTAINED_PER_S = 200  # the soak's rate: 500 devices in a busy home network
BURST_PER_S = 10 * SUSTAINED_PER_S
BURST_S = 5
SENSORS = [(f"motion-{n}", "motion") for n in range(40)] + [
    (f"temp-{n}", "temperature") for n in range(40)
]
PENDANTS = [f"pendant-{n}" for n in range(2, 6)]
HWM_GROWTH_MIB = 40  # the inbox holds at most some hundreds of small messages
NOTIFY_DEADLINE_S = 60  # TSA KPI: alarm calls answered within 60 s (research notes)


def household() -> list[dict[str, str]]:
    """The small home's devices, the burst's sensors and more pendants."""
    extra = [{"id": d, "name": d, "role": role, "room": "Lounge"} for d, role in SENSORS]
    pendants = [{"id": p, "name": p, "role": "pendant", "room": "Lounge"} for p in PENDANTS]
    return [*DEVICES, *extra, *pendants]


def burst() -> Iterator[Message]:
    """Each sensor in turn with its own numbering at QoS 0; one press per pendant among them."""
    total = BURST_PER_S * BURST_S
    press_at = {total * (k + 1) // (len(PENDANTS) + 1): p for k, p in enumerate(PENDANTS)}
    for number in range(total):
        if number in press_at:
            yield event_topic(press_at[number]), b'{"type": "pendant.pressed"}', 1
        device, role = SENSORS[number % len(SENSORS)]
        seq = number // len(SENSORS) + 1
        body = (
            {"type": "motion.detected", "seq": seq}
            if role == "motion"
            else {"type": "temperature.reading", "seq": seq, "value": 19.5}
        )
        yield event_topic(device), json.dumps(body).encode(), 0


def numbered() -> Iterator[tuple[str, str, int]]:
    """Topic, device and number of each sensor event in the burst."""
    for topic, payload, _ in burst():
        body = json.loads(payload)
        if "seq" in body:
            yield topic, topic.split("/")[2], body["seq"]


@dataclass(frozen=True)
class Outcome:
    """What the store holds after the burst."""

    seqs: Counter[tuple[str, int]]
    presses: int
    notes: list[tuple[str, str]]
    notify_s: float


async def stored(db: Path) -> Outcome:
    """Door event numbers (with how often each), presses, notifications, time to tell the carer."""
    async with Store.open(db, readonly=True) as store:
        events = [e.event for e in await store.events()]
        notes = await store.notifications()
    presses = [e.received_at for e in events if e.type == "pendant.pressed"]
    told = [n.updated_at for n in notes if n.state == "delivered"]
    return Outcome(
        seqs=Counter((e.device_id, e.seq) for e in events if e.seq is not None),
        presses=len(presses),
        notes=[(n.incident_id, n.state) for n in notes],
        notify_s=(min(told) - min(presses)).total_seconds() if told and presses else -1.0,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("per_s", "name"),
    [
        (BURST_PER_S, f"burst {BURST_PER_S}/s (10x the sustained rate)"),
        (float("inf"), "flood: as fast as one client publishes"),
    ],
)
async def test_a_burst_is_absorbed_with_bounded_memory(
    mosquitto: LocalBroker,
    tmp_path: Path,
    hub_processes: list[HubProcess],
    per_s: float,
    name: str,
) -> None:
    data = config_data(mosquitto, tmp_path, devices=household())
    db = Path(data["store"]["path"])
    hub = HubProcess(write_toml(tmp_path / "hub.toml", data), tmp_path / "hub.log")
    hub_processes.append(hub)
    hub.start()
    assert hub.process is not None
    pid = hub.process.pid
    before = memory_mib(pid)
    total = BURST_PER_S * BURST_S
    async with (
        httpx.AsyncClient(base_url=dashboard_url(hub.log_path.read_text())) as web,
        device_client(mosquitto, "burst-devices") as devices,
    ):
        took_s = await publish_paced(devices, burst(), per_s=per_s)
        deadline = time.monotonic() + 120
        while (metrics := await read_metrics(web))["telecare_events_total"] < total + len(PENDANTS):
            assert time.monotonic() < deadline, f"only {metrics['telecare_events_total']} stored"
            await asyncio.sleep(0.2)
        drained_s = time.monotonic() - deadline + 120
    after = memory_mib(pid)
    assert hub.terminate() == 0
    outcome = await stored(db)

    assert set(outcome.seqs) == {(d, n) for _, d, n in numbered()}, "every event stored"
    assert set(outcome.seqs.values()) == {1}, "and stored once"
    assert outcome.presses == len(PENDANTS)
    [(incident, state)] = outcome.notes  # the presses are one call for help, told once
    assert (incident.startswith("help_call"), state) == (True, "delivered")
    assert 0 <= outcome.notify_s < NOTIFY_DEADLINE_S
    assert metrics["telecare_inbox_peak_messages"] <= HIGH_WATER
    growth = after["VmHWM"] - before["VmRSS"]
    assert growth < HWM_GROWTH_MIB, f"peak memory grew {growth:.1f} MiB"
    record(
        "load",
        name,
        sent=total + len(PENDANTS),
        stored=outcome.seqs.total() + outcome.presses,
        lost=total - len(outcome.seqs) + len(PENDANTS) - outcome.presses,
        duplicates_to_carer=len(outcome.notes) - 1,
        worst_notify_s=round(outcome.notify_s, 3),
        publish_s=round(took_s, 2),
        drained_after_s=round(drained_s, 2),
        inbox_peak=int(metrics["telecare_inbox_peak_messages"]),
        broker_pauses=int(metrics["telecare_inbox_pauses_total"]),
        rss_before_mib=round(before["VmRSS"], 1),
        peak_rss_mib=round(after["VmHWM"], 1),
    )
