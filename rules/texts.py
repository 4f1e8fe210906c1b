"""The words carers read: alert texts rendered in the home's clock."""

from datetime import datetime
from zoneinfo import ZoneInfo

from rules.policy import RulesConfig

UNKNOWN_ROOM = "room unknown"


class Texts:
    """Renders templates with the person's name, the device, its room and a local time."""

    def __init__(self, config: RulesConfig) -> None:
        self._person = config.home.person
        self._devices = {
            device_id: (info.name, info.room or UNKNOWN_ROOM)
            for device_id, info in config.devices.items()
        }
        self.zone = ZoneInfo(config.home.timezone)

    def render(
        self,
        template: str,
        device_id: str,
        when: datetime,
        *,
        label: str = "",
        value: float | None = None,
        baseline: float | None = None,
    ) -> str:
        """Fill `template`'s fields: person, device, room, time, label, value, baseline.

        The time is HH:MM in the home's clock; the baseline is the usual level a trend's value
        is compared with; a missing number reads "?".
        """
        name, room = self._devices.get(device_id, (device_id, UNKNOWN_ROOM))
        local = when.astimezone(self.zone)
        return template.format(
            person=self._person,
            device=name,
            room=room,
            time=f"{local.hour:02d}:{local.minute:02d}",
            label=label,
            value=_number(value),
            baseline=_number(baseline),
        )


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:.0f}"
