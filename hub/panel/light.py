"""What the hub's status light shows, from the incidents the hub announces.

Steady green: nothing open. Flashing red: an alarm is raised and nobody has acknowledged it.
Amber: every open alarm is acknowledged, so help is coming.
"""

from typing import Literal

from pydantic import ValidationError

from wire.schema import PREFIX, IncidentPayload

Light = Literal["ok", "alarm", "acknowledged"]
INCIDENT_TOPICS = f"{PREFIX}/hub/incident/"
OPEN = frozenset({"pending", "firing", "acknowledged"})


class IncidentLights:
    """Follows incident announcements; says what the light shows and when to chime."""

    def __init__(self) -> None:
        self._open: dict[str, str] = {}

    def follow(self, incident_id: str, cause: str, state: str) -> bool:
        """Take one incident change; True if it calls for a reminder chime.

        A medication reminder that starts firing chimes the buzzer.
        """
        was = self._open.get(incident_id)
        if state in OPEN:
            self._open[incident_id] = state
        else:
            self._open.pop(incident_id, None)
        return cause.startswith("medication") and state == "firing" and was != "firing"

    def follow_announcement(self, topic: str, body: bytes) -> bool:
        """Take what the hub published; anything but an incident announcement is ignored."""
        if not topic.startswith(INCIDENT_TOPICS) or not body:
            return False
        try:
            incident = IncidentPayload.model_validate_json(body)
        except ValidationError:
            return False
        return self.follow(incident.id, incident.cause, incident.state)

    @property
    def light(self) -> Light:
        """The light for the incidents open now."""
        if not self._open:
            return "ok"
        if all(state == "acknowledged" for state in self._open.values()):
            return "acknowledged"
        return "alarm"
