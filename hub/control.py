"""The hub's control topic: acknowledgements from the CLI (and other local tools) over MQTT.

The running hub owns the database writer, so a command-line `telecare ack` does not write the
store itself: it publishes on the local broker, and the hub carries the acknowledgement out on
its event path, committed with everything else before the message is acknowledged.
"""

import json

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.wire import PREFIX

ACK_TOPIC = f"{PREFIX}/hub/control/ack"


class AckPayload(BaseModel):
    """Body of `telecare/v1/hub/control/ack`: who is handling which incident."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incident_id: str = Field(min_length=1, max_length=128)
    by: str = Field(min_length=1, max_length=60)


def decode_ack(payload: bytes) -> AckPayload | str:
    """The acknowledgement, or why it is refused."""
    try:
        return AckPayload.model_validate(json.loads(payload))
    except (ValueError, ValidationError) as err:
        first = err.errors()[0]["msg"] if isinstance(err, ValidationError) else str(err)
        return f"bad acknowledgement: {first}"
