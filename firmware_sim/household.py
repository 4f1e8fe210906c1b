"""A short household scenario played by simulated devices, for the demo."""

import asyncio
import logging
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass

from firmware_sim.devices import NativeDevice
from rules.events import EventType

log = logging.getLogger("telecare.sim")


@dataclass(frozen=True, slots=True)
class SimDevice:
    """A device in the simulated home, as the installer would declare it."""

    id: str
    name: str
    role: str
    room: str


@dataclass(frozen=True, slots=True)
class Step:
    """At `at_s` seconds into the scenario, `device` reports `event`."""

    at_s: float
    device: str
    event: EventType
    note: str


DEMO_DEVICES = (
    SimDevice("pendant", "pendant", "pendant", "Living room"),
    SimDevice("pull-cord", "pull-cord", "pull_cord", "Bathroom"),
    SimDevice("front-door", "front door sensor", "door", "Hall"),
    SimDevice("leak-bathroom", "leak sensor", "water", "Bathroom"),
    SimDevice("leak-kitchen", "leak sensor", "water", "Kitchen"),
)

DEMO_STEPS = (
    Step(0.5, "front-door", "door.opened", "a visitor arrives by day"),
    Step(1.2, "front-door", "door.closed", "door closed again"),
    Step(2.0, "pendant", "pendant.pressed", "the pendant is pressed by mistake"),
    Step(3.0, "pendant", "pendant.cancelled", "she cancels it herself"),
    Step(4.0, "leak-bathroom", "water.leak", "a splash on the bathroom sensor"),
    Step(4.6, "leak-bathroom", "water.clear", "it dries within a second"),
    Step(5.0, "pull-cord", "pendant.pressed", "she pulls the bathroom cord: she needs help"),
    Step(6.0, "leak-kitchen", "water.leak", "the kitchen tap is left running: the leak persists"),
)


async def play(
    host: str,
    port: int,
    *,
    devices: Sequence[SimDevice] = DEMO_DEVICES,
    steps: Sequence[Step] = DEMO_STEPS,
) -> int:
    """Connect every device, then play the steps at their times; returns events sent."""
    async with AsyncExitStack() as stack:
        clients = {
            d.id: await stack.enter_async_context(NativeDevice(d.id, host, port)) for d in devices
        }
        start = asyncio.get_running_loop().time()
        for step in sorted(steps, key=lambda s: s.at_s):
            delay = start + step.at_s - asyncio.get_running_loop().time()
            if delay > 0:
                await asyncio.sleep(delay)
            log.info("%s: %s", step.device, step.note)
            await clients[step.device].send(step.event)
        return len(steps)
