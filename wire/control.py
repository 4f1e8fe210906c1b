"""The hub's control topics: acknowledgements, resolutions and occupancy from the CLI.

The running hub owns the database writer, so a command-line `telecare ack` does not write the
store itself: it publishes on the local broker, and the hub carries the acknowledgement out on
its event path, committed with everything else before the message is acknowledged.
"""

import json

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from wire.schema import PREFIX

ACK_TOPIC = f"{PREFIX}/hub/control/ack"
OCCUPANCY_CONTROL_TOPIC = f"{PREFIX}/hub/control/occupancy"
OCCUPANCY_TOPIC = f"{PREFIX}/hub/occupancy"
RESOLVE_TOPIC = f"{PREFIX}/hub/control/resolve"
MAX_NOTE_CHARS = 500


class AckPayload(BaseModel):
    """Body of `telecare/v1/hub/control/ack`: who is handling which incident."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incident_id: str = Field(min_length=1, max_length=128)
    by: str = Field(min_length=1, max_length=60)


class ResolvePayload(BaseModel):
    """Body of `telecare/v1/hub/control/resolve`: who says which incident is over, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incident_id: str = Field(min_length=1, max_length=128)
    by: str = Field(min_length=1, max_length=60)
    note: str | None = Field(default=None, min_length=1, max_length=MAX_NOTE_CHARS)


class OccupancyRequest(BaseModel):
    """Body of `telecare/v1/hub/control/occupancy`: someone is at home with her, or has left."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: bool
    by: str = Field(min_length=1, max_length=60)


class OccupancyPayload(BaseModel):
    """Body of the retained `telecare/v1/hub/occupancy`: who else is at home, as the hub holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: bool
    by: str | None = None
    updated_at: AwareDatetime


ControlRequest = AckPayload | ResolvePayload | OccupancyRequest
_MODELS: dict[str, type[ControlRequest]] = {
    ACK_TOPIC: AckPayload,
    RESOLVE_TOPIC: ResolvePayload,
    OCCUPANCY_CONTROL_TOPIC: OccupancyRequest,
}
CONTROL_TOPICS = frozenset(_MODELS)


def decode_control(topic: str, payload: bytes) -> ControlRequest | str:
    """The request on a control topic, or why it is refused."""
    model = _MODELS[topic]
    try:
        return model.model_validate(json.loads(payload))
    except (ValueError, ValidationError, RecursionError) as err:  # RecursionError: deep JSON
        first = err.errors()[0]["msg"] if isinstance(err, ValidationError) else str(err)
        return f"bad control request: {first[:120]}"
