"""`telecare demo`: a broker, the hub and a simulated household, with nothing to configure."""

import asyncio
import logging
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_sim.household import DEMO_DEVICES, play
from hub.app import serve
from hub.broker import LocalBroker
from hub.config import HubConfig, config_from_dict
from hub.store import Store

log = logging.getLogger("telecare.hub")
READY_TIMEOUT_S = 20.0
SETTLE_S = 4.0


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


def demo_config(broker: LocalBroker, workdir: Path) -> HubConfig:
    """The demo household: Mum at home, Alice her daughter at work."""
    data: dict[str, Any] = {
        "home": {"person": "Mum", "timezone": "Europe/London"},
        "mqtt": {"host": broker.host, "port": broker.port, "client_id": "telecare-demo-hub"},
        "store": {"path": str(workdir / "hub.db")},
        "web": {"enabled": False},  # the demo tells its story on the console
        "contacts": [{"name": "Alice"}],
        "devices": [
            {"id": d.id, "name": d.name, "role": d.role, "room": d.room} for d in DEMO_DEVICES
        ],
        # Shortened so the demo shows a splash dropped and a real leak raised within seconds.
        "policy": {"water": {"debounce_s": 3}},
    }
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
    config = demo_config(broker, workdir)
    ready = asyncio.Event()
    hub = asyncio.create_task(serve(config, stop, on_ready=ready.set), name="demo-hub")
    async with asyncio.timeout(READY_TIMEOUT_S):
        await _first_of(ready.wait(), stop.wait(), hub)
    scenario = asyncio.create_task(_play_then_settle(broker), name="demo-scenario")
    try:
        waits = [scenario, stop.wait(), hub]
        if duration_s is not None:
            waits.append(asyncio.sleep(duration_s))
        await _first_of(*waits)
    finally:
        scenario.cancel()
        await asyncio.gather(scenario, return_exceptions=True)
        stop.set()
        rejects = await hub
    summary = await _summarise(config.store.path)
    summary.rejected = rejects.counts
    return summary


async def _play_then_settle(broker: LocalBroker) -> None:
    await play(broker.host, broker.port)
    await asyncio.sleep(SETTLE_S)  # let the last confirm window run out


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
