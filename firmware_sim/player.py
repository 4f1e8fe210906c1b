"""Playing a scenario: every simulated device on the broker, every step at its moment.

Native devices each have their own MQTT client with a last will; Zigbee devices share one client,
as they do behind a real Zigbee2MQTT bridge, which also publishes the retained device list and
availability.
"""

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

import aiomqtt

from firmware_sim.behaviours import BEHAVIOURS
from firmware_sim.devices import QOS_AT_LEAST_ONCE, NativeDevice
from firmware_sim.scenario import Scenario, SimDevice, Step
from firmware_sim.zigbee import ZigbeeState, bridge_device
from wire.event import EventType
from wire.schema import CLOCK_DONE_TOPIC, CLOCK_TOPIC, ClockPayload

log = logging.getLogger("telecare.sim")
MALFORMED = b'{"type": "pendant.pre'


@dataclass(frozen=True, slots=True)
class Emission:
    """One canonical event a device emits at a moment of scenario time, for a step."""

    at: datetime
    device: SimDevice
    event: EventType
    step: Step


def schedule(scenario: Scenario, *, heartbeat: timedelta | None = None) -> list[Emission]:
    """Every emission of the scenario in time order (steps keep file order at equal times).

    With `heartbeat`, every device also checks in at that interval, as real devices do, so the
    hub's supervision sees them alive through days of simulated time.
    """
    devices = {d.id: d for d in scenario.devices}
    emissions: list[Emission] = _heartbeats(scenario, heartbeat) if heartbeat else []
    for step in scenario.all_steps():
        moment = scenario.moment(step)
        events = list(BEHAVIOURS[step.do].events)
        if step.misbehave == "out_of_order":
            # Later events arrive first: all at the first moment, newest first.
            events = [(0.0, event) for _, event in reversed(events)]
        emissions.extend(
            Emission(moment + timedelta(seconds=offset), devices[step.device], event, step)
            for offset, event in events
        )
    return sorted(emissions, key=lambda e: e.at)


def _heartbeats(scenario: Scenario, every: timedelta) -> list[Emission]:
    steps = [scenario.moment(s) for s in scenario.all_steps()]
    first, last = min(steps), max(steps)
    beats: list[Emission] = []
    moment = first + every
    while moment < last:
        for device in scenario.devices:
            check_in = Step(at="00:00", device=device.id, do="heartbeat", note="check-in")
            beats.append(Emission(moment, device, "device.heartbeat", check_in))
        moment += every
    return beats


class Household:
    """All of a scenario's devices, connected to one broker."""

    def __init__(
        self, scenario: Scenario, host: str, port: int, *, base_topic: str = "zigbee2mqtt"
    ):
        self._scenario = scenario
        self._host = host
        self._port = port
        self._base = base_topic
        self._stack = AsyncExitStack()
        self._native: dict[str, NativeDevice] = {}
        self._zigbee: dict[str, ZigbeeState] = {}
        self._bridge: aiomqtt.Client | None = None

    async def __aenter__(self) -> Self:
        for device in self._scenario.devices:
            if device.schema_ == "native":
                client = NativeDevice(device.id, self._host, self._port, battery=device.battery)
                self._native[device.id] = await self._stack.enter_async_context(client)
            else:
                assert device.model is not None  # validated
                self._zigbee[device.id] = ZigbeeState(device.model)
        if self._zigbee:
            await self._start_bridge()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stack.aclose()

    async def _start_bridge(self) -> None:
        bridge = aiomqtt.Client(
            self._host,
            self._port,
            identifier="sim-zigbee2mqtt",
            will=aiomqtt.Will(f"{self._base}/bridge/state", '{"state":"offline"}', 1, True),
        )
        self._bridge = await self._stack.enter_async_context(bridge)
        listing = [
            bridge_device(d.id, f"0x00124b00{index:08x}", d.model or "")
            for index, d in enumerate(self._scenario.devices)
            if d.id in self._zigbee
        ]
        await self._zigbee_publish("bridge/state", b'{"state":"online"}', retain=True)
        await self._zigbee_publish("bridge/devices", json.dumps(listing).encode(), retain=True)
        for name in self._zigbee:
            await self._zigbee_publish(f"{name}/availability", b'{"state":"online"}', retain=True)

    async def _zigbee_publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        assert self._bridge is not None
        await self._bridge.publish(
            f"{self._base}/{topic}", payload, qos=QOS_AT_LEAST_ONCE, retain=retain
        )

    async def emit(self, emission: Emission) -> None:
        """Publish what the device says for one emission, misbehaving as its step asks."""
        messages = self._encode(emission)
        if emission.step.misbehave == "malformed":
            topic, _, _ = messages[0]
            messages = [(topic, MALFORMED, False), *messages]
        if emission.step.misbehave == "duplicate":
            messages = [m for m in messages for _ in range(2)]
        for topic, payload, retain in messages:
            await self._publish(emission.device, topic, payload, retain=retain)

    def _encode(self, emission: Emission) -> list[tuple[str, bytes, bool]]:
        device, event, value = emission.device, emission.event, emission.step.value
        if device.id in self._native:
            return [self._native[device.id].encode(event, value=value, ts=emission.at)]
        name = device.id
        if event in ("device.online", "device.offline"):
            state = "online" if event == "device.online" else "offline"
            return [(f"{name}/availability", json.dumps({"state": state}).encode(), True)]
        states = self._zigbee[name].messages(event, value=value)
        return [(name, json.dumps(state).encode(), False) for state in states]

    async def _publish(
        self, device: SimDevice, topic: str, payload: bytes, *, retain: bool
    ) -> None:
        if device.id in self._native:
            await self._native[device.id].publish(topic, payload, retain=retain)
        else:
            await self._zigbee_publish(topic, payload, retain=retain)


async def play_live(
    scenario: Scenario,
    host: str,
    port: int,
    *,
    speed: float,
    on_emit: Callable[[Emission], Awaitable[None] | None] | None = None,
    emissions: Sequence[Emission] | None = None,
) -> int:
    """Play the scenario in scaled real time (`speed` scenario seconds per real second)."""
    plan = list(emissions) if emissions is not None else schedule(scenario)
    if not plan:
        return 0
    loop = asyncio.get_running_loop()
    origin, started = plan[0].at, loop.time()
    async with Household(scenario, host, port) as household:
        for emission in plan:
            due = started + (emission.at - origin).total_seconds() / speed
            await asyncio.sleep(max(0.0, due - loop.time()))
            log.info(
                "%s %s: %s",
                emission.device.id,
                emission.event,
                emission.step.note or emission.step.do,
            )
            await household.emit(emission)
            if on_emit is not None:
                result = on_emit(emission)
                if result is not None:
                    await result
    return len(plan)


class ClockDriver:
    """Moves a virtual-clock hub's time and waits until it has caught up."""

    def __init__(self, client: aiomqtt.Client, *, timeout_s: float) -> None:
        self._client = client
        self._timeout_s = timeout_s

    async def start(self) -> None:
        """Listen for the hub's answers."""
        await self._client.subscribe(CLOCK_DONE_TOPIC, qos=QOS_AT_LEAST_ONCE)

    async def advance(self, moment: datetime) -> None:
        """Tell the hub it is now `moment`; return once it has done everything due by then."""
        body = ClockPayload(now=moment).model_dump_json()
        await self._client.publish(CLOCK_TOPIC, body, qos=QOS_AT_LEAST_ONCE)
        async with asyncio.timeout(self._timeout_s):
            async for message in self._client.messages:
                # Only the hub's answer counts (some brokers deliver more than was asked for).
                if not message.topic.matches(CLOCK_DONE_TOPIC):
                    continue
                done = ClockPayload.model_validate_json(bytes(message.payload))
                if done.now == moment:
                    return


async def play_virtual(
    scenario: Scenario,
    host: str,
    port: int,
    *,
    settle: timedelta = timedelta(hours=1),
    heartbeat: timedelta = timedelta(hours=1),
    timeout_s: float = 30.0,
    pace_s: float = 0.0,
    on_emit: Callable[[Emission], None] | None = None,
) -> int:
    """Play the scenario against a hub that follows a virtual clock; nothing sleeps.

    Before each moment's events the hub's clock is moved to that moment, and the hub answers only
    once every timer due by then has run, so results do not depend on the machine's speed. For a
    demonstration, `pace_s` pauses that long (real time) after each step of the timeline, so a
    person can follow it; routine and check-ins do not pause.
    """
    plan = schedule(scenario, heartbeat=heartbeat)
    if not plan:
        return 0
    async with aiomqtt.Client(host, port, identifier="sim-clock") as client:
        clock = ClockDriver(client, timeout_s=timeout_s)
        await clock.start()
        await clock.advance(plan[0].at - timedelta(minutes=1))  # devices connect in scenario time
        async with Household(scenario, host, port) as household:
            await _play_in_step(plan, household, clock, pace_s=pace_s, on_emit=on_emit)
            await clock.advance(plan[-1].at + settle)
    return len(plan)


async def _play_in_step(
    plan: list[Emission],
    household: Household,
    clock: ClockDriver,
    *,
    pace_s: float,
    on_emit: Callable[[Emission], None] | None,
) -> None:
    for moment, group in itertools.groupby(plan, key=lambda e: e.at):
        await clock.advance(moment)
        notable = False
        for emission in group:
            await household.emit(emission)
            if emission.step.note not in ("routine", "check-in"):
                notable = True
                if on_emit is not None:
                    on_emit(emission)
        if notable and pace_s:
            await asyncio.sleep(pace_s)
