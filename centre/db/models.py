"""Rows of the centre's tables, as frozen models: what the queries return."""

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

AlarmKind = Literal["incident", "hub_silent"]
AlarmState = Literal["open", "accepted", "resolved"]
Rejection = Literal["forged", "replayed", "malformed", "unknown_hub", "too_large"]


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ContactRow(_Row):
    """A family contact of a home, whom the centre tells when the hub goes silent."""

    home_id: str
    name: str
    phone: str | None = None
    ntfy_topic: str | None = None


class HomeRow(_Row):
    """A home, its escalation seconds by cause or severity, and its hub's liveness."""

    id: str
    name: str
    timezone: str
    escalation: dict[str, int]
    created_at: AwareDatetime
    hub_id: str
    version: str | None = None
    last_heartbeat: AwareDatetime | None = None
    silent_since: AwareDatetime | None = None
    open_alarms: int = 0


class HubRow(_Row):
    """A hub as the worker and the timers see it."""

    id: str
    home_id: str
    key_hex: str
    last_seq: int
    heartbeat_seq: int
    version: str | None
    started_at: AwareDatetime | None
    last_heartbeat: AwareDatetime | None
    silent_since: AwareDatetime | None


class DeviceRow(_Row):
    """One device of a home, from the newest heartbeat."""

    hub_id: str
    id: str
    name: str
    role: str
    room: str | None
    battery: int | None
    last_seen: AwareDatetime | None
    silent: bool


class IncidentRow(_Row):
    """The newest snapshot of an incident a hub reported."""

    hub_id: str
    id: str
    seq: int
    cause: str
    severity: str
    state: str
    device_id: str
    room: str | None
    opened_at: AwareDatetime
    updated_at: AwareDatetime
    text: str
    accepted_by: str | None
    family_exhausted: bool


class AlarmRow(_Row):
    """An entry of the operators' queue."""

    id: int
    home_id: str
    hub_id: str
    kind: AlarmKind
    incident_id: str | None
    severity: str
    raised_at: AwareDatetime
    why: str
    state: AlarmState
    accepted_by: str | None
    accepted_at: AwareDatetime | None
    resolved_at: AwareDatetime | None
    cleared_at: AwareDatetime | None
    family_told_at: AwareDatetime | None = None
    family_back_told_at: AwareDatetime | None = None


class OperatorRow(_Row):
    """An operator of the centre (the hash is argon2, checked by the console)."""

    username: str
    display_name: str
    role: Literal["operator", "supervisor"]
    password_hash: str
    created_at: AwareDatetime


class OperatorActionRow(_Row):
    """One audited operator action, and whether the hub has applied it.

    Attributes:
        applied: True: the hub carried it out; False: it refused (`applied_detail` says why);
            None: no report yet.
    """

    id: int
    action_id: str
    operator: str
    alarm_id: int | None
    action: str
    note: str
    at: AwareDatetime
    applied_at: AwareDatetime | None
    applied: bool | None
    applied_detail: str | None


class HubCredentials(_Row):
    """What `homes add` prints once: the hub's NATS password is not kept by the centre.

    Attributes:
        key_hex: The hub's signing key (HMAC-SHA256) for uplink envelopes, hex.
        nats_password: The hub's NATS password; only its bcrypt hash is stored.
    """

    home_id: str
    hub_id: str
    key_hex: str = Field(repr=False)
    nats_password: str = Field(repr=False)


class Stored(_Row):
    """What writing one uplink message did."""

    outcome: Literal["stored", "duplicate", "replayed"]
    applied: bool = False  # its snapshot was newer than what the centre had
