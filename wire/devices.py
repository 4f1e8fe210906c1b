"""A registered device as the drivers see it: what the registry holds of one device."""

from pydantic import AwareDatetime, BaseModel, ConfigDict


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
    commands: str | None = None
    # Judged by the reader from the hourly history (`Store.signal_history`, `rules.trend`);
    # None where it was not, or could not be yet.
    signal_falling: bool | None = None
