"""`[centre]`: the monitoring centre this hub reports to, if any (see docs/CENTRE.md)."""

from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    field_validator,
    model_validator,
)

from wire.uplink import HEARTBEAT_EVERY_S, HUB_ID_PATTERN, relay_voice_path

MIN_KEY_BYTES = 16
SCHEMES = frozenset({"nats", "tls"})


class CentreSettings(BaseModel):
    """`[centre]`: how the hub reaches the centre's engine and proves who it is.

    Attributes:
        servers: The engine's nodes, `tls://host:port` (or `nats://` where TLS is not wanted).
        hub_id: This hub's id at the centre; also its user name on the engine.
        password: Its password on the engine (or `password_file`, or the environment:
            `TELECARE_CENTRE__PASSWORD`).
        password_file: A file (mode 0600) holding the password.
        key: The hub's signing key, hex: signs the uplink and checks the operators' actions
            (or `TELECARE_CENTRE__KEY`).
        ca_file: The certificate authority that signed the engine's certificate.
        heartbeat_s: Seconds between heartbeats.
        ack_timeout_s: How long the engine may take to confirm a message before the link is
            taken to be down (and every unconfirmed message is sent again later).
        relay_url: The centre console's public address (`https://centre.example.org`). With
            it, and no `[twilio] public_url`, an alert call's "press 1" is posted there and
            relayed to the hub over the downlink (see docs/PHONES.md).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    servers: tuple[str, ...] = Field(min_length=1)
    hub_id: str = Field(pattern=HUB_ID_PATTERN)
    password: SecretStr | None = None
    password_file: FilePath | None = None
    key: SecretStr
    ca_file: FilePath | None = None
    heartbeat_s: float = Field(default=float(HEARTBEAT_EVERY_S), ge=1.0, le=3600.0)
    ack_timeout_s: float = Field(default=10.0, ge=0.5, le=300.0)
    relay_url: str | None = Field(default=None, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")

    @field_validator("servers")
    @classmethod
    def _server_urls(cls, servers: tuple[str, ...]) -> tuple[str, ...]:
        for server in servers:
            parts = urlsplit(server)
            if parts.scheme not in SCHEMES or not parts.hostname or parts.port is None:
                msg = f"{server!r} is not tls://host:port (or nats://host:port)"
                raise ValueError(msg)
        return servers

    @field_validator("key")
    @classmethod
    def _hex_key(cls, key: SecretStr) -> SecretStr:
        try:
            raw = bytes.fromhex(key.get_secret_value())
        except ValueError:
            msg = "must be hex (as `telecare centre homes add` prints it)"
            raise ValueError(msg) from None
        if len(raw) < MIN_KEY_BYTES:
            msg = f"must be at least {MIN_KEY_BYTES} bytes ({2 * MIN_KEY_BYTES} hex digits)"
            raise ValueError(msg)
        return key

    @model_validator(mode="after")
    def _one_password(self) -> Self:
        if (self.password is None) == (self.password_file is None):
            msg = "password: give the hub's password or a password_file, not both or neither"
            raise ValueError(msg)
        return self

    @property
    def tls(self) -> bool:
        """Whether the link is encrypted (a CA file is given, or a server says tls://)."""
        return self.ca_file is not None or any(s.startswith("tls://") for s in self.servers)

    def secret(self) -> str:
        """The hub's password on the engine.

        Raises:
            OSError: the password file cannot be read.
        """
        if self.password is not None:
            return self.password.get_secret_value()
        assert self.password_file is not None
        return Path(self.password_file).read_text(encoding="utf-8").strip()

    def relay_hook(self) -> str | None:
        """Where Twilio posts a call's key press for the centre to relay, if it relays."""
        if self.relay_url is None:
            return None
        return self.relay_url.rstrip("/") + relay_voice_path(self.hub_id)

    def key_bytes(self) -> bytes:
        """The signing key."""
        return bytes.fromhex(self.key.get_secret_value())
