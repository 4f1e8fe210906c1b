"""Rows the store hands back, as models (no database types leave `hub/store.py`)."""

from pydantic import AwareDatetime, BaseModel, ConfigDict

from rules.events import DeviceEvent


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
