"""The sections of the hub's configuration file: `[mqtt]`, `[store]`, `[web]`, `[[devices]]` ...

Each a frozen model that refuses keys it does not know; `hub/config/file.py` puts them together.
"""

from collections import Counter
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    HttpUrl,
    SecretStr,
    field_validator,
    model_validator,
)

from rules.policy import (
    Role,
)
from wire.event import Source
from wire.schema import DEVICE_ID_PATTERN, PREFIX, is_device_id


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MqttSettings(_Section):
    """`[mqtt]`: the broker the devices and the hub share."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    client_id: str = Field(default="telecare-hub", min_length=1, max_length=64)
    keepalive_s: int = Field(default=30, ge=5, le=600)
    zigbee2mqtt_base_topic: str = Field(default="zigbee2mqtt", min_length=1)
    lost_grace_s: float = Field(default=120.0, ge=1.0, le=3600.0)
    # The broker's `max_inflight_messages` (1000 in the shipped Mosquitto configuration): while
    # the disk refuses writes, the hub leaves that many messages (less a few) unacknowledged;
    # `telecare config check` compares the two (hub/config/mosquitto.py).
    broker_max_inflight: int = Field(default=1000, ge=8, le=65535)

    @field_validator("zigbee2mqtt_base_topic")
    @classmethod
    def _plain_topic(cls, value: str) -> str:
        if any(c in value for c in "#+") or value.startswith("/") or value.endswith("/"):
            msg = "a topic without wildcards or a leading or trailing '/', such as 'zigbee2mqtt'"
            raise ValueError(msg)
        # `telecare/...` is the native schema; `gpio/...` the wired buttons' local topics.
        reserved = {PREFIX.split("/", maxsplit=1)[0], "gpio"}
        if value.split("/", maxsplit=1)[0] in reserved:
            msg = f"{value!r} overlaps the hub's own topics; use Zigbee2MQTT's base_topic"
            raise ValueError(msg)
        return value


class StoreSettings(_Section):
    """`[store]`: where the SQLite database lives."""

    path: Path = Path("/var/lib/telecare/hub.db")


class HeartbeatSettings(_Section):
    """`[heartbeat]`: an optional dead-man ping so someone notices a hub that has died.

    Attributes:
        url: Pinged (HTTP GET) while the hub runs and reaches its broker.
        interval_s: Seconds between pings; the monitor's grace period should be a few of these.
    """

    url: HttpUrl | None = None
    interval_s: float = Field(default=300.0, ge=1.0, le=86400.0)


class SimulationSettings(_Section):
    """`[simulation]`: for scenario benchmarks only, never in a real home.

    Attributes:
        virtual_clock: Time moves only when a simulator says so on `telecare/v1/hub/clock`.
    """

    virtual_clock: bool = False


class SupervisionSettings(_Section):
    """`[supervision]`: how long each role may stay silent before it counts as offline."""

    check_in_h: dict[Role, float] = Field(default_factory=dict)

    @field_validator("check_in_h")
    @classmethod
    def _sensible_hours(cls, hours: dict[Role, float]) -> dict[Role, float]:
        for role, value in hours.items():
            if not 0.1 <= value <= 168:  # noqa: PLR2004
                msg = f"{role}: {value} h is not between 0.1 and 168 hours"
                raise ValueError(msg)
        return hours


WebRole = Literal["carer", "installer"]
ARGON2_PREFIX = "$argon2id$"


class WebLogin(_Section):
    """`[[web.logins]]`: one person who may use the dashboard, and what they may do there.

    Attributes:
        name: Shown on the dashboard and in the audit trail ("acknowledged by Alice").
        role: `carer` (sees the home, acknowledges alarms) or `installer` (devices, tests).
        passcode_hash: The argon2id hash from `telecare web hash-passcode`; never the passcode.
    """

    name: str = Field(min_length=1, max_length=60)
    role: WebRole = "carer"
    passcode_hash: SecretStr

    @field_validator("passcode_hash")
    @classmethod
    def _is_argon2(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(ARGON2_PREFIX):
            msg = "not an argon2id hash: make one with `telecare web hash-passcode`"
            raise ValueError(msg)
        return value


class WebSettings(_Section):
    """`[web]`: the dashboard and JSON API, served by the hub's own process.

    Attributes:
        enabled: Serve the dashboard at all.
        host: Address to bind; loopback by default, a LAN address to reach it from phones.
        port: TCP port; 0 picks a free one (tests).
        secure_cookies: Mark the session cookie Secure (set it when a TLS proxy is in front;
            the hub does so itself when it serves TLS).
        certfile: PEM certificate (with its chain) to serve HTTPS directly.
        keyfile: The certificate's PEM private key.
        session_hours: A login lasts this long.
        base_url: How phones reach the dashboard (`https://hub.example.org`), for the links
            `telecare web link` prints; unset, they use `host` and `port`.
        logins: Who may log in.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    secure_cookies: bool = False
    certfile: FilePath | None = None
    keyfile: FilePath | None = None
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    base_url: HttpUrl | None = None
    logins: tuple[WebLogin, ...] = ()

    @model_validator(mode="after")
    def _certificate_with_key(self) -> "WebSettings":
        if (self.certfile is None) != (self.keyfile is None):
            msg = "certfile and keyfile go together: give both to serve HTTPS, or neither"
            raise ValueError(msg)
        return self

    @property
    def cookies_secure(self) -> bool:
        """Whether cookies must only travel over HTTPS."""
        return self.secure_cookies or self.certfile is not None

    @field_validator("logins")
    @classmethod
    def _unique_logins(cls, logins: tuple[WebLogin, ...]) -> tuple[WebLogin, ...]:
        refuse_repeats("login name", [login.name for login in logins])
        return logins


class DeviceConfig(_Section):
    """`[[devices]]`: a device provisioned from the file rather than paired from the CLI."""

    id: str = Field(pattern=DEVICE_ID_PATTERN)
    name: str = Field(min_length=1, max_length=60)
    role: Role
    room: str | None = Field(default=None, max_length=60)
    source: Source = "native"
    friendly_name: str | None = None
    model: str | None = None

    @field_validator("id")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if not is_device_id(value):
            msg = f"{value!r} is reserved for the hub's own topics; choose another id"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _zigbee_needs_name(self) -> "DeviceConfig":
        if self.source == "zigbee2mqtt" and not self.friendly_name:
            msg = "a zigbee2mqtt device needs its friendly_name"
            raise ValueError(msg)
        return self


def refuse_repeats(what: str, values: list[str]) -> None:
    """Raise ValueError naming every value of `values` given more than once."""
    repeated = sorted(v for v, n in Counter(values).items() if n > 1)
    if repeated:
        msg = f"{what} used more than once: {', '.join(repeated)}"
        raise ValueError(msg)
