"""Rows the store hands back, as models (no database types leave `hub/store/`)."""

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict

from wire.event import DeviceEvent


class StoredEvent(BaseModel):
    """An accepted event with its place in the log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    event: DeviceEvent
    topic: str | None = None


class DeviceHealth(BaseModel):
    """A registered device was heard from at `at`, with battery and signal if it said."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_id: str
    at: AwareDatetime
    battery: int | None = None
    linkquality: int | None = None


class HealthHour(BaseModel):
    """One hour of a device's history: the medians of what it reported in that hour.

    Attributes:
        hour: The start of the hour (UTC).
        linkquality: Median link quality (0 to 255), None if no report carried one.
        battery: Median battery level in percent, None if no report carried one.
        samples: How many reports the hour had.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    hour: AwareDatetime
    linkquality: float | None
    battery: float | None
    samples: int


class UnpairedSighting(BaseModel):
    """A device that is not registered spoke at `at`; the installer may adopt it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    address: str
    model: str | None
    at: AwareDatetime
    spoke: bool = True


class UnpairedDevice(BaseModel):
    """A device heard on the broker that is not registered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    address: str
    model: str | None
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    messages: int


class StoreTallies(BaseModel):
    """Counts for monitoring (`/metrics`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    events: int
    incidents: dict[str, int]
    notifications: dict[str, int]
    delivered: int = 0
    delivery_seconds: float = 0.0


class LogEntry(BaseModel):
    """One change in an incident's audit trail."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incident_id: str
    at: AwareDatetime
    previous: str | None
    state: str
    reason: str


class Presence(BaseModel):
    """Whether one person of the household said they are at home, and since when."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    state: Literal["home", "away"]
    at: AwareDatetime


class IncidentNote(BaseModel):
    """A note someone added to an incident."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incident_id: str
    author: str
    text: str
    at: AwareDatetime


class LoginLink(BaseModel):
    """A one-time login link for a contact (`telecare web link`): the secret only as a hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    contact: str
    secret_hash: str
    created_at: AwareDatetime
    expires_at: AwareDatetime
    used_at: AwareDatetime | None = None
