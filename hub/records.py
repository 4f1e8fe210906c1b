"""Rows the store hands back, as models (no database types leave `hub/store.py`)."""

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, computed_field

from rules.events import DeviceEvent

# Averages of link quality (0 to 255), updated with each report: recent reacts in a few reports,
# long-run over some tens; a drop of SIGNAL_DROP between them is a falling signal.
SIGNAL_RECENT_WEIGHT = 0.3
SIGNAL_LONG_WEIGHT = 0.05
SIGNAL_DROP = 25.0


class StoredEvent(BaseModel):
    """An accepted event with its place in the log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int
    event: DeviceEvent
    topic: str | None = None


class DeviceRecord(BaseModel):
    """A registered device and what the hub last heard of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    role: str
    room: str | None
    source: str
    friendly_name: str | None
    model: str | None
    origin: str
    online: bool | None
    battery: int | None
    last_seen: AwareDatetime | None
    created_at: AwareDatetime
    linkquality: int | None = None
    signal_recent: float | None = None
    signal_long: float | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def signal_falling(self) -> bool:
        """Whether the signal has lately fallen well below its usual level.

        A pendant whose link quality sinks is one that will soon stop being heard.
        """
        if self.signal_recent is None or self.signal_long is None:
            return False
        return self.signal_long - self.signal_recent >= SIGNAL_DROP


class DeviceHealth(BaseModel):
    """A registered device was heard from at `at`, with battery and signal if it said."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_id: str
    at: AwareDatetime
    battery: int | None = None
    linkquality: int | None = None


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
