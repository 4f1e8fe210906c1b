"""Scenario files: a household, its devices and contacts, and a labelled timeline of behaviours.

A scenario is a TOML file under `firmware_sim/scenarios/`. Every step that is a real emergency or
needs the carer carries the deadline by which the carer must be told; every other step says
whether it may reach the carer at all (`digest`) or must not interrupt her at work
(`not_at_work`, the default).
"""

import re
import tomllib
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Self
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from firmware_sim.behaviours import BEHAVIOURS
from rules.policy import Contact, Home, Role
from wire.schema import DEVICE_ID_PATTERN

Label = Literal["emergency", "needs_carer", "not_at_work", "digest"]
Schema = Literal["native", "zigbee2mqtt"]
_AT = re.compile(
    r"^(?:d(?P<day>[1-9][0-9]?) )?(?P<h>[0-2][0-9]):(?P<m>[0-5][0-9])(?::(?P<s>[0-5][0-9]))?$"
)


class ScenarioError(Exception):
    """A scenario file cannot be used; `problems` names each bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.problems = problems


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SimDevice(_Frozen):
    """A simulated device: what it is, where it is, how it speaks."""

    id: str = Field(pattern=DEVICE_ID_PATTERN)
    name: str
    role: Role
    room: str
    schema_: Schema = Field(default="native", alias="schema")
    model: str | None = None
    battery: int = Field(default=90, ge=0, le=100)

    @model_validator(mode="after")
    def _zigbee_needs_model(self) -> Self:
        if self.schema_ == "zigbee2mqtt" and not self.model:
            msg = "a zigbee2mqtt device needs the model it simulates"
            raise ValueError(msg)
        return self


class Step(_Frozen):
    """One behaviour at one moment, with its ground truth.

    Attributes:
        at: "HH:MM[:SS]" on the first day, or "dN HH:MM[:SS]" on day N.
        device: The device that behaves.
        do: The behaviour (see `firmware_sim.behaviours`).
        label: What the carer should experience.
        deadline_s: For emergency and needs_carer: seconds by which the carer must be told.
        misbehave: Optionally, how the device's messages go wrong.
        value: A measured value, for readings (temperature in degrees Celsius).
        note: What is happening, in words.
    """

    at: str
    device: str
    do: str
    label: Label = "not_at_work"
    deadline_s: float | None = Field(default=None, gt=0)
    misbehave: Literal["duplicate", "malformed", "out_of_order"] | None = None
    value: float | None = None
    note: str = ""

    @field_validator("at")
    @classmethod
    def _moment(cls, value: str) -> str:
        if not _AT.match(value):
            msg = f"{value!r} is not 'HH:MM[:SS]' or 'dN HH:MM[:SS]'"
            raise ValueError(msg)
        return value

    @field_validator("do")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in BEHAVIOURS:
            msg = f"{value!r} is not a behaviour ({', '.join(sorted(BEHAVIOURS))})"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _deadline_when_it_matters(self) -> Self:
        needs = self.label in ("emergency", "needs_carer")
        if needs != (self.deadline_s is not None):
            msg = "deadline_s is required for emergency and needs_carer steps, and only for them"
            raise ValueError(msg)
        return self

    def offset(self) -> timedelta:
        """Time from the scenario's start of day 1."""
        match = _AT.match(self.at)
        assert match is not None  # checked at validation
        day = int(match["day"] or 1)
        return timedelta(
            days=day - 1,
            hours=int(match["h"]),
            minutes=int(match["m"]),
            seconds=int(match["s"] or 0),
        )


class Routine(_Frozen):
    """A behaviour repeated through each day (motion as someone moves about, say).

    Attributes:
        device: The device that behaves.
        do: The behaviour.
        every_min: Minutes between repeats.
        between: The daily window "HH:MM-HH:MM" (not crossing midnight).
        days: Which days of the scenario, 1-based; all days if empty.
    """

    device: str
    do: str
    every_min: int = Field(ge=5, le=720)
    between: str = Field(pattern=r"^[0-2][0-9]:[0-5][0-9]-[0-2][0-9]:[0-5][0-9]$")
    days: tuple[int, ...] = ()

    def steps(self, days: int) -> list[Step]:
        """The routine as plain timeline steps over `days` days."""
        first, last = (_minutes(part) for part in self.between.split("-"))
        out = []
        for day in self.days or range(1, days + 1):
            for minute in range(first, last, self.every_min):
                at = f"d{day} {minute // 60:02d}:{minute % 60:02d}"
                out.append(Step(at=at, device=self.device, do=self.do, note="routine"))
        return out


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


class Scenario(_Frozen):
    """A household and what happens in it.

    Attributes:
        days: How many days the scenario covers (for routines).
        policy: Per-role rule settings this household uses (the hub's `[policy.*]` tables).
    """

    name: str
    description: str
    start: datetime
    home: Home = Home()
    contacts: tuple[Contact, ...] = Field(min_length=1)
    devices: tuple[SimDevice, ...] = Field(min_length=1)
    timeline: tuple[Step, ...] = Field(min_length=1)
    routine: tuple[Routine, ...] = ()
    days: int = Field(default=1, ge=1, le=31)
    policy: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        ids = [d.id for d in self.devices]
        if len(set(ids)) != len(ids):
            msg = "device ids must be unique"
            raise ValueError(msg)
        checks = [(f"timeline[{i}]", s.device, s.do) for i, s in enumerate(self.timeline)]
        checks += [(f"routine[{i}]", r.device, r.do) for i, r in enumerate(self.routine)]
        for where, device, do in checks:
            self._check_device(where, device, do)
        return self

    def _check_device(self, where: str, device_id: str, do: str) -> None:
        device = next((d for d in self.devices if d.id == device_id), None)
        if device is None:
            msg = f"{where}.device: {device_id!r} is not a device"
            raise ValueError(msg)
        if do not in BEHAVIOURS:
            msg = f"{where}.do: {do!r} is not a behaviour"
            raise ValueError(msg)
        allowed = BEHAVIOURS[do].roles
        if device.role not in allowed:
            msg = f"{where}.do: {do!r} is for {', '.join(sorted(allowed))}"
            raise ValueError(msg)

    def all_steps(self) -> list[Step]:
        """The timeline with the routines spelled out."""
        routine = [step for r in self.routine for step in r.steps(self.days)]
        return [*self.timeline, *routine]

    def moment(self, step: Step) -> datetime:
        """When a step happens, as an aware time in the home's zone."""
        midnight = self.start.replace(hour=0, minute=0, second=0, microsecond=0)
        return (midnight + step.offset()).replace(tzinfo=ZoneInfo(self.home.timezone))

    def hub_config(self, host: str, port: int, database: Path) -> dict[str, Any]:
        """A hub configuration for this household (validate it with the hub's own model)."""
        devices: list[dict[str, Any]] = []
        for d in self.devices:
            entry: dict[str, Any] = {"id": d.id, "name": d.name, "role": d.role, "room": d.room}
            if d.schema_ == "zigbee2mqtt":
                entry |= {"source": "zigbee2mqtt", "friendly_name": d.id, "model": d.model}
            devices.append(entry)
        return {
            "home": self.home.model_dump(),
            "mqtt": {"host": host, "port": port, "client_id": f"hub-{self.name}"},
            "store": {"path": str(database)},
            "contacts": [c.model_dump(mode="json", exclude_defaults=True) for c in self.contacts],
            "devices": devices,
            "policy": self.policy,
            "web": {"enabled": False},
            "simulation": {"virtual_clock": True},
        }

    def steps_in_order(self) -> list[Step]:
        """The timeline sorted by time (files may group steps by device)."""
        return sorted(self.timeline, key=lambda s: s.offset())


def load_scenario(source: str | Path) -> Scenario:
    """Load a scenario by name (one shipped in `firmware_sim/scenarios/`) or by path.

    Raises:
        ScenarioError: naming every problem with its key.
    """
    path = Path(source)
    if not path.suffix:
        shipped = resources.files("firmware_sim") / "scenarios" / f"{source}.toml"
        path = Path(str(shipped))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ScenarioError(
            str(source), [f"no such scenario ({', '.join(shipped_names())})"]
        ) from err
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(str(path), [f"not valid TOML: {err}"]) from err
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in err.errors()
        ]
        raise ScenarioError(str(path), problems) from err


def shipped_names() -> list[str]:
    """Names of the scenarios shipped with the simulator."""
    folder = resources.files("firmware_sim") / "scenarios"
    return sorted(
        f.name.removesuffix(".toml") for f in folder.iterdir() if f.name.endswith(".toml")
    )
