"""The uplink between a home's hub and the monitoring centre: subjects, envelopes and bodies.

Pure: no I/O. The hub writes each uplink message into its own store with the next per-hub
sequence number, then publishes it on NATS JetStream; the centre confirms by the stream's
acknowledgement and writes it to PostgreSQL idempotently on (hub, sequence). Operator actions
travel the other way on the downlink, one durable consumer per hub.

Every envelope is signed with the hub's own key (HMAC-SHA256 over its canonical JSON without the
signature), so a message the broker let through under one hub's name but built by anyone else is
refused, and a sequence number the centre already holds with a different body is refused as a
replay. Both are counted.

A key pressed on an alert's call reaches a hub behind NAT through the centre: Twilio posts it to
the centre's public relay route (`relay_voice_path`), the centre forwards the request untouched
as a `RelayedVoice` on the hub's downlink, and the hub answers with an `ActionApplied` under the
relay's id, its `detail` being what the caller is told. The hub checks Twilio's own signature
(with its own auth token) and its own token in the URL: the centre can carry a press, never make
one.
"""

import hashlib
import hmac
import json
from typing import Annotated, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

HUB_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
UPLINK_STREAM = "UPLINK"
DOWNLINK_STREAM = "DOWNLINK"
UPLINK_SUBJECTS = "uplink.*.*"
DOWNLINK_SUBJECTS = "downlink.*.*"
HEARTBEAT_EVERY_S = 60
MAX_ENVELOPE_BYTES = 64 * 1024
MAX_RELAY_FIELDS = 64
Signed = TypeVar("Signed", "UplinkEnvelope", "OperatorAction", "RelayedVoice")


def uplink_subject(hub_id: str, kind: str) -> str:
    """`uplink.<hub>.<kind>`: a hub may publish only under its own id (broker permissions)."""
    return f"uplink.{hub_id}.{kind}"


def downlink_subject(hub_id: str) -> str:
    """`downlink.<hub>.action`: operator actions for one hub."""
    return f"downlink.{hub_id}.action"


def relay_voice_path(hub_id: str) -> str:
    """The centre's public route that takes the key pressed on a call to `hub_id`'s carer."""
    return f"/relay/twilio/{hub_id}/voice"


def downlink_consumer(hub_id: str) -> str:
    """The durable pull consumer on the downlink stream that only this hub reads."""
    return f"hub-{hub_id}"


def inbox_prefix(hub_id: str) -> str:
    """Replies to a hub's requests come under its own prefix, so no hub reads another's."""
    return f"_INBOX_{hub_id}"


def message_id(hub_id: str, seq: int) -> str:
    """JetStream's de-duplication id (`Nats-Msg-Id`): a resend of one message is stored once."""
    return f"{hub_id}:{seq}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DeviceSummary(_Model):
    """One device of the home as the centre's home page shows it."""

    id: str = Field(min_length=1, max_length=64)
    name: str = Field(max_length=100)
    role: str = Field(max_length=32)
    room: str | None = Field(default=None, max_length=64)
    battery: int | None = Field(default=None, ge=0, le=100)
    last_seen: AwareDatetime | None = None
    silent: bool = False


class Heartbeat(_Model):
    """The hub is alive; sent every `HEARTBEAT_EVERY_S` with what the home page shows."""

    kind: Literal["heartbeat"] = "heartbeat"
    at: AwareDatetime
    version: str = Field(max_length=32)
    started_at: AwareDatetime
    devices: tuple[DeviceSummary, ...] = Field(default=(), max_length=200)


class IncidentUpdate(_Model):
    """An incident opened or changed state in the home (a snapshot, newest wins by sequence).

    Attributes:
        family_exhausted: Every step of the family ladder has been tried without an acceptance.
        accepted_by: Who accepted it, while accepted (a family contact or a centre operator).
        reason: Why it changed, in the words of the hub's audit trail.
    """

    kind: Literal["incident"] = "incident"
    incident_id: str = Field(min_length=1, max_length=128)
    cause: str = Field(max_length=64)
    severity: Literal["emergency", "urgent", "info"]
    state: Literal["pending", "firing", "acknowledged", "resolved", "cancelled", "suppressed"]
    device_id: str = Field(max_length=64)
    room: str | None = Field(default=None, max_length=64)
    opened_at: AwareDatetime
    at: AwareDatetime
    text: str = Field(max_length=1000)
    accepted_by: str | None = Field(default=None, max_length=100)
    family_exhausted: bool = False
    reason: str = Field(default="", max_length=200)


class ActionApplied(_Model):
    """The hub carried out an operator action from the downlink (or refused it, with why).

    For a relayed key press (`RelayedVoice`), `action_id` is the relay's id, `applied` says
    whether the press accepted the incident, and `detail` is what the caller is to be told.
    """

    kind: Literal["action_applied"] = "action_applied"
    action_id: str = Field(min_length=1, max_length=64)
    incident_id: str = Field(max_length=128)
    applied: bool
    detail: str = Field(default="", max_length=200)
    at: AwareDatetime


UplinkBody = Annotated[Heartbeat | IncidentUpdate | ActionApplied, Field(discriminator="kind")]


class UplinkEnvelope(_Model):
    """One signed uplink message: `seq` grows by one per message of that hub, from 1."""

    v: Literal[1] = 1
    hub_id: str = Field(pattern=HUB_ID_PATTERN)
    seq: int = Field(ge=1)
    sent_at: AwareDatetime
    body: UplinkBody
    sig: str = Field(default="", max_length=64)


class OperatorAction(_Model):
    """An operator accepted or resolved an incident at the centre; for the home's hub.

    Attributes:
        action_id: Unique per action; the hub applies each once and reports `ActionApplied`.
        operator: The operator's display name, as the family is told it ("Sam at the centre").
    """

    v: Literal[1] = 1
    action_id: str = Field(min_length=1, max_length=64)
    hub_id: str = Field(pattern=HUB_ID_PATTERN)
    incident_id: str = Field(min_length=1, max_length=128)
    action: Literal["accept", "resolve"]
    operator: str = Field(min_length=1, max_length=100)
    note: str = Field(default="", max_length=1000)
    at: AwareDatetime
    sig: str = Field(default="", max_length=64)


class RelayedVoice(_Model):
    """A key press Twilio posted to the centre's relay route, for the hub to check and act on.

    Attributes:
        relay_id: Unique per request; the hub acts on each once and reports `ActionApplied`.
        url: The full URL Twilio requested (its query holds the hub's own token), as the
            centre is configured to be reached: what Twilio signed.
        form: The POST's form fields, as Twilio sent them.
        twilio_signature: The request's `X-Twilio-Signature` ("" when it had none).
    """

    v: Literal[1] = 1
    kind: Literal["twilio_voice"] = "twilio_voice"
    relay_id: str = Field(min_length=1, max_length=64)
    hub_id: str = Field(pattern=HUB_ID_PATTERN)
    url: str = Field(min_length=1, max_length=2000)
    form: dict[str, Annotated[str, Field(max_length=1000)]] = Field(max_length=MAX_RELAY_FIELDS)
    twilio_signature: str = Field(default="", max_length=200)
    at: AwareDatetime
    sig: str = Field(default="", max_length=64)


DownlinkMessage = OperatorAction | RelayedVoice
"""What the hub's downlink carries; both kinds on its one subject and durable consumer."""


def _canonical(model: UplinkEnvelope | OperatorAction | RelayedVoice) -> bytes:
    data = model.model_dump(mode="json", exclude={"sig"})
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def signature(model: UplinkEnvelope | OperatorAction | RelayedVoice, key: bytes) -> str:
    """HMAC-SHA256 of the model's canonical JSON (without `sig`), hex."""
    return hmac.new(key, _canonical(model), hashlib.sha256).hexdigest()


def signed(model: Signed, key: bytes) -> Signed:
    """The same model carrying its signature."""
    return model.model_copy(update={"sig": signature(model, key)})


def verified(model: UplinkEnvelope | OperatorAction | RelayedVoice, key: bytes) -> bool:
    """Whether the model's signature is the one `key` makes (constant-time)."""
    return hmac.compare_digest(model.sig, signature(model, key))
