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
        public_url: Where Twilio reaches the console from outside (`https://centre.example.org`,
            with any path a reverse proxy adds). With it, `/relay/twilio/<hub>/voice` takes the
            key pressed on homes' alert calls and relays it to their hubs; Twilio's signatures
            are over this address. Without it, the route is not served.
        relay_wait_s: How long a relayed key press waits for its hub's answer before the
            caller is told it is being passed on (Twilio gives up on a hook after 15 s).
        relay_per_minute: Relayed requests taken per hub per minute (more are refused, 429).
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
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
    relay_wait_s: float = Field(default=5.0, ge=0.5, le=12.0)
    relay_per_minute: int = Field(default=30, ge=1, le=600)
