"""The hub's control topics: acknowledgements, resolutions, occupancy and reloads from the CLI.

One scheme: each request has a topic of its own, `telecare/v1/hub/control/<request>`, and its body
holds the request's fields (who asks, of what). Releases before it asked for a reload with
`{"command": "reload_devices"}` on `telecare/v1/hub/control`; a hub's persistent session may still
hold one from such a tool, so that form is read as a reload, and counted and logged as the old
form (`OLD_RELOAD_TOPIC`).

The running hub owns the database writer, so a command-line `telecare ack` does not write the
store itself: it publishes on the local broker, and the hub carries the acknowledgement out on
its event path, committed with everything else before the message is acknowledged.
"""

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from wire.schema import PREFIX, load_json

ACK_TOPIC = f"{PREFIX}/hub/control/ack"
OCCUPANCY_CONTROL_TOPIC = f"{PREFIX}/hub/control/occupancy"
OCCUPANCY_TOPIC = f"{PREFIX}/hub/occupancy"
RESOLVE_TOPIC = f"{PREFIX}/hub/control/resolve"
# Told by `telecare pair` / `telecare devices` after they change the registry: the running hub
# re-reads its devices from the store. Anyone on the broker may send it; it only causes a re-read.
RELOAD_TOPIC = f"{PREFIX}/hub/control/reload"
OLD_RELOAD_TOPIC = f"{PREFIX}/hub/control"
OLD_RELOAD_BY = "a tool of an older release"
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


class ReloadRequest(BaseModel):
    """Body of `telecare/v1/hub/control/reload`: re-read the device registry, and who asks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    by: str = Field(min_length=1, max_length=60)


class OldReloadPayload(BaseModel):
    """Body of `telecare/v1/hub/control` before the one scheme: read as a `ReloadRequest`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: Literal["reload_devices"]


class OccupancyPayload(BaseModel):
    """Body of the retained `telecare/v1/hub/occupancy`: who else is at home, as the hub holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: bool
    by: str | None = None
    updated_at: AwareDatetime


ControlRequest = AckPayload | ResolvePayload | OccupancyRequest | ReloadRequest
_MODELS: dict[str, type[ControlRequest | OldReloadPayload]] = {
    ACK_TOPIC: AckPayload,
    RESOLVE_TOPIC: ResolvePayload,
    OCCUPANCY_CONTROL_TOPIC: OccupancyRequest,
    RELOAD_TOPIC: ReloadRequest,
    OLD_RELOAD_TOPIC: OldReloadPayload,
}
CONTROL_TOPICS = frozenset(_MODELS)


def decode_control(topic: str, payload: bytes) -> ControlRequest | str:
    """The request on a control topic, or why it is refused."""
    model = _MODELS[topic]
    try:
        request = model.model_validate(load_json(payload))
    except (ValueError, ValidationError) as err:
        first = err.errors()[0]["msg"] if isinstance(err, ValidationError) else str(err)
        return f"bad control request: {first[:120]}"
    if isinstance(request, OldReloadPayload):
        return ReloadRequest(by=OLD_RELOAD_BY)
    return request
