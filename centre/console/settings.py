"""The console's settings (the `[console]` table of `centre.toml`)."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ConsoleSettings(BaseModel):
    """Where the console listens and how long a login lasts.

    Attributes:
        secret_key: Signs session cookies. Give the same key to every console process (and
            keep it across restarts) so logins survive; without one, each start makes a new key
            and everyone logs in again.
        session_hours: A night shift is 12 hours; a login lasts that long, then ends by itself.
        poll_s: How often the console reads the queue for changes to push to open pages.
        timezone: Times on the pages are shown in this zone.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8480, ge=0, le=65535)
    certfile: Path | None = None
    keyfile: Path | None = None
    secret_key: SecretStr | None = Field(default=None, min_length=32)
    session_hours: float = Field(default=12.0, gt=0, le=24)
    poll_s: float = Field(default=1.0, gt=0, le=60)
    timezone: str = "Europe/London"
