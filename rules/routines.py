"""Settings for the rules about daily life: doors, room temperature, activity, medication.

Part of the `[policy.*]` and `[[medication]]` tables of the hub's TOML file; `rules.policy`
gathers them.
"""

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rules.schedule import DailyWindow, TimeOfDay


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DoorPolicy(_Frozen):
    """Doors: a night exit without return, a door left open, daytime comings and goings.

    Attributes:
        night: Local hours in which a door opening may be someone wandering.
        return_s: Seconds after a night opening in which a return must be seen.
        return_needs_motion: If true, only movement inside counts as a return; if false, the
            door closing again counts too (homes without a motion sensor near the door).
        left_open_s: Seconds a door may stand open, day or night, before it is urgent.
    """

    night: DailyWindow = Field(default="22:00-07:00", validate_default=True)
    return_s: float = Field(default=600.0, ge=30.0, le=7200.0)
    return_needs_motion: bool = True
    left_open_s: float = Field(default=900.0, ge=60.0, le=86400.0)


class TemperaturePolicy(_Frozen):
    """Cold homes kill; so does heat.

    Attributes:
        cold_below_c: A room colder than this for `for_s` is urgent.
        hot_above_c: A room warmer than this for `for_s` is urgent.
        for_s: How long the reading must stay out of range.
    """

    cold_below_c: float = Field(default=10.0, ge=-10.0, le=20.0)
    hot_above_c: float = Field(default=27.0, ge=20.0, le=45.0)
    for_s: float = Field(default=1800.0, ge=0.0, le=86400.0)


class ActivityPolicy(_Frozen):
    """The wellbeing check: no sign of the person when there should be one.

    Attributes:
        enabled: On, off, or (unset) on when the home has a motion sensor.
        day: The local hours in which someone up and about is expected to move.
        up_by: A check is raised if nothing has moved since `day` began by this time.
        quiet_h: Hours without any activity inside `day` that raise a check.
    """

    enabled: bool | None = None
    day: DailyWindow = Field(default="07:00-22:00", validate_default=True)
    up_by: TimeOfDay | None = Field(default="10:00", validate_default=True)
    quiet_h: float = Field(default=5.0, gt=0.0, le=24.0)

    @model_validator(mode="after")
    def _day_within_a_day(self) -> "ActivityPolicy":
        start, end = self.day
        if start > end:
            msg = "day must not cross midnight"
            raise ValueError(msg)
        if self.up_by is not None and not start < self.up_by <= end:
            msg = "up_by must fall inside day"
            raise ValueError(msg)
        length_h = (end.hour * 60 + end.minute - start.hour * 60 - start.minute) / 60
        if self.quiet_h >= length_h:
            msg = f"quiet_h must be shorter than day ({length_h:g} h)"
            raise ValueError(msg)
        return self


class FlappingPolicy(_Frozen):
    """A device that keeps raising the same non-emergency alarm is probably faulty.

    Attributes:
        max_openings: Times one device's same urgent alarm may reach the carer within the
            window; the next is held back, and the carer gets one "device fault" notice.
        within_min: The window, in minutes.
    """

    max_openings: int = Field(default=4, ge=1, le=100)
    within_min: float = Field(default=30.0, gt=0.0, le=1440.0)


class Medication(_Frozen):
    """`[[medication]]`: a dose reminded at set times, missed if not taken within the grace.

    Attributes:
        name: Short identifier (lower case, digits, `_`, `-`); names the incident.
        label: How texts name it ("heart tablets"); the name if unset.
        times: Local times of day the dose is due.
        grace_min: Minutes after the due time in which `medication.taken` counts as on time.
        device: The dispenser or chime told to remind the person; every medication device if
            unset.
    """

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    label: str | None = Field(default=None, max_length=60)
    times: tuple[TimeOfDay, ...] = Field(min_length=1, max_length=12)
    grace_min: float = Field(default=60.0, gt=0.0, le=240.0)
    device: str | None = None

    @field_validator("times")
    @classmethod
    def _distinct(cls, times: tuple[object, ...]) -> tuple[object, ...]:
        if len(set(times)) != len(times):
            msg = "the same time is given twice"
            raise ValueError(msg)
        return times
