"""The words carers read: alert texts rendered in the home's clock."""

from datetime import datetime
from zoneinfo import ZoneInfo

from rules.policy import RulesConfig


class Texts:
    """Renders templates with the person's name, the device, its room and a local time."""

    def __init__(self, config: RulesConfig) -> None:
        self._config = config
        self.zone = ZoneInfo(config.home.timezone)

    def render(self, template: str, device_id: str, when: datetime, *, label: str = "") -> str:
        """Fill `template`'s fields: person, device, room, time (HH:MM local) and label."""
        info = self._config.devices.get(device_id)
        return template.format(
            person=self._config.home.person,
            device=info.name if info else device_id,
            room=(info.room if info and info.room else "room unknown"),
            time=f"{when.astimezone(self.zone):%H:%M}",
            label=label,
        )
