"""`telecare demo`: a broker, the hub and a simulated household, with nothing to configure.

The household is the `typical-day` scenario: a Monday for Mum while Alice works. The hub follows
the simulation's clock, so a day plays in seconds with every confirm window and escalation step
at its true moment; each step pauses briefly so a person can follow it.
"""

import asyncio
import logging
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_sim.player import Emission, play_virtual
from firmware_sim.scenario import Scenario, load_scenario
from hub.config.file import HubConfig, config_from_dict
from hub.mqtt.broker import LocalBroker
from hub.service.app import serve
from hub.store.store import Store

log = logging.getLogger("telecare.hub")
READY_TIMEOUT_S = 20.0
SCENARIO = "typical-day"
PACE_S = 0.4  # real seconds per step of the day, to read what happens


@dataclass
class DemoSummary:
    """What the demo's hub stored, counted."""

    events: int = 0
    incidents: Counter[str] = field(default_factory=Counter)
    notifications: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)

    def lines(self) -> list[str]:
        """The summary as printed at the end of the demo."""

        def detail(counts: Counter[str]) -> str:
            parts = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
            return f" ({parts})" if parts else ""

        return [
            "Summary",
            f"  events:        {self.events}",
            f"  incidents:     {sum(self.incidents.values())}{detail(self.incidents)}",
            f"  notifications: {sum(self.notifications.values())}{detail(self.notifications)}",
            f"  rejected:      {sum(self.rejected.values())}{detail(self.rejected)}",
        ]


def demo_config(scenario: Scenario, broker: LocalBroker, workdir: Path) -> HubConfig:
    """The scenario's household, on the local broker, with a temporary store."""
    data: dict[str, Any] = scenario.hub_config(broker.host, broker.port, workdir / "hub.db")
    data["mqtt"]["client_id"] = "telecare-demo-hub"
    return config_from_dict(data)


async def run_demo(stop: asyncio.Event, *, duration_s: float | None) -> DemoSummary:
    """Run the whole demo until the scenario has played out, `duration_s`, or `stop`."""
    with tempfile.TemporaryDirectory(prefix="telecare-demo-") as tmp:
        workdir = Path(tmp)
        broker = LocalBroker(workdir / "broker")
        await asyncio.to_thread(broker.start)
        try:
            return await _with_broker(broker, workdir, stop, duration_s)
        finally:
            await asyncio.to_thread(broker.stop)


async def _with_broker(
    broker: LocalBroker, workdir: Path, stop: asyncio.Event, duration_s: float | None
) -> DemoSummary:
    scenario = load_scenario(SCENARIO)
    config = demo_config(scenario, broker, workdir)
    ready = asyncio.Event()
    hub = asyncio.create_task(serve(config, stop, on_ready=ready.set), name="demo-hub")
    async with asyncio.timeout(READY_TIMEOUT_S):
        await _first_of(ready.wait(), stop.wait(), hub)
    playing = asyncio.create_task(_play(scenario, broker), name="demo-scenario")
    try:
        waits = [playing, stop.wait(), hub]
        if duration_s is not None:
            waits.append(asyncio.sleep(duration_s))
        await _first_of(*waits)
    finally:
        playing.cancel()
        await asyncio.gather(playing, return_exceptions=True)
        stop.set()
        rejects = await hub
    summary = await _summarise(config.store.path)
    summary.rejected = rejects.counts
    return summary


async def _play(scenario: Scenario, broker: LocalBroker) -> None:
    def show(emission: Emission) -> None:
        logging.getLogger("telecare.sim").info(
            "%s  %s %s: %s",
            f"{emission.at:%a %H:%M:%S}",
            emission.device.id,
            emission.event,
            emission.step.note,
        )

    await play_virtual(scenario, broker.host, broker.port, pace_s=PACE_S, on_emit=show)


async def _first_of(*waitables: Any) -> None:
    """Wait for the first to finish; cancel the helpers made here; re-raise a task's failure."""
    futures = [asyncio.ensure_future(w) for w in waitables]
    made_here = [f for f, w in zip(futures, waitables, strict=True) if f is not w]
    done, _ = await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    for future in made_here:
        future.cancel()
    for future in done:
        if future not in made_here and not future.cancelled():
            error = future.exception()
            if error is not None:
                raise error


async def _summarise(path: Path) -> DemoSummary:
    async with Store.open(path, readonly=True) as store:
        return DemoSummary(
            events=len(await store.events()),
            incidents=Counter(i.state for i in await store.incidents()),
            notifications=Counter(n.state for n in await store.notifications()),
        )
