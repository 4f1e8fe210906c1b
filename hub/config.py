"""The hub's one configuration file: a TOML file validated at start, secrets from the environment.

Environment variables override the file, with the prefix `TELECARE_` and `__` between levels:
`TELECARE_MQTT__PASSWORD` sets `[mqtt] password`.
"""

import stat
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    HttpUrl,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hub.uplink.settings import CentreSettings
from hub.wire import DEVICE_ID_PATTERN, PREFIX, is_device_id
from notifier.settings import AppriseSettings, NtfySettings, TwilioSettings
from rules.events import Source
from rules.policy import (
    Contact,
    DeviceInfo,
    EscalationPlan,
    Home,
    Policies,
    Role,
    RulesConfig,
    escalation_problems,
)
from rules.policy import Severity as SeverityName
from rules.routines import Medication

SECRET_KEYS = frozenset({"password", "auth_token", "token", "passcode_hash", "secret", "key"})


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists one line per bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


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


class GpioButtonConfig(_Section):
    """A button wired to the Pi: the BCM `pin` and the `[[devices]]` entry it speaks for."""

    pin: int = Field(ge=0, le=53)
    device: str = Field(pattern=DEVICE_ID_PATTERN)


class GpioSettings(_Section):
    """`[gpio]`: a pull-cord or big button, the hub's cancel button, a status light, a buzzer.

    On a machine without GPIO the hub starts with GPIO disabled and says so once.
    """

    enabled: bool = True
    cord: GpioButtonConfig | None = None
    cancel: GpioButtonConfig | None = None
    led_red_pin: int | None = Field(default=None, ge=0, le=53)
    led_green_pin: int | None = Field(default=None, ge=0, le=53)
    buzzer_pin: int | None = Field(default=None, ge=0, le=53)
    bounce_s: float = Field(default=0.05, ge=0.0, le=1.0)
    hold_s: float = Field(default=3.0, ge=0.5, le=30.0)

    @property
    def wanted(self) -> bool:
        """Whether anything is wired at all."""
        pins = (self.cord, self.cancel, self.led_red_pin, self.led_green_pin, self.buzzer_pin)
        return self.enabled and any(p is not None for p in pins)


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
        _refuse_repeats("login name", [login.name for login in logins])
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


class HubConfig(BaseSettings):
    """The whole configuration file."""

    model_config = SettingsConfigDict(
        env_prefix="TELECARE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )
    toml_path: ClassVar[Path | None] = None

    home: Home = Home()
    mqtt: MqttSettings = MqttSettings()
    store: StoreSettings = StoreSettings()
    heartbeat: HeartbeatSettings = HeartbeatSettings()
    simulation: SimulationSettings = SimulationSettings()
    web: WebSettings = WebSettings()
    contacts: tuple[Contact, ...]
    devices: tuple[DeviceConfig, ...] = ()
    policy: Policies = Policies()
    supervision: SupervisionSettings = SupervisionSettings()
    gpio: GpioSettings = GpioSettings()
    escalation: dict[SeverityName, EscalationPlan] = Field(default_factory=dict)
    medication: tuple[Medication, ...] = ()
    twilio: TwilioSettings | None = None
    ntfy: NtfySettings | None = None
    apprise: AppriseSettings = AppriseSettings()
    centre: CentreSettings | None = None

    @field_validator("contacts")
    @classmethod
    def _unique_contacts(cls, contacts: tuple[Contact, ...]) -> tuple[Contact, ...]:
        if not contacts:
            msg = "at least one contact is needed: nobody would be told of an alarm"
            raise ValueError(msg)
        _refuse_repeats("contact name", [c.name for c in contacts])
        return contacts

    @field_validator("devices")
    @classmethod
    def _unique_devices(cls, devices: tuple[DeviceConfig, ...]) -> tuple[DeviceConfig, ...]:
        _refuse_repeats("device id", [d.id for d in devices])
        return devices

    @field_validator("gpio")
    @classmethod
    def _wired_devices_declared(cls, gpio: GpioSettings, info: ValidationInfo) -> GpioSettings:
        wired = {d.id for d in info.data.get("devices", ()) if d.source == "gpio"}
        for key, button in (("cord", gpio.cord), ("cancel", gpio.cancel)):
            if button is not None and button.device not in wired:
                msg = f"{key}.device: {button.device!r} is not a [[devices]] entry with source gpio"
                raise ValueError(msg)
        return gpio

    @field_validator("escalation")
    @classmethod
    def _known_contacts(
        cls, plans: dict[SeverityName, EscalationPlan], info: ValidationInfo
    ) -> dict[SeverityName, EscalationPlan]:
        if "contacts" not in info.data:
            return plans  # the contacts themselves are wrong; that error is enough
        problems = escalation_problems(plans, tuple(c.name for c in info.data["contacts"]))
        if problems:
            raise ValueError("; ".join(problems))
        return plans

    @field_validator("twilio")
    @classmethod
    def _hooks_served(
        cls, twilio: TwilioSettings | None, info: ValidationInfo
    ) -> TwilioSettings | None:
        web = info.data.get("web")
        if twilio is not None and twilio.public_url is not None and web and not web.enabled:
            msg = (
                "public_url: Twilio's hooks are served by the hub's web server, which [web]"
                " enabled = false turns off; turn it on or remove public_url"
            )
            raise ValueError(msg)
        return twilio

    @field_validator("medication")
    @classmethod
    def _unique_medication(cls, medication: tuple[Medication, ...]) -> tuple[Medication, ...]:
        _refuse_repeats("medication name", [m.name for m in medication])
        return medication

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments first, then the environment, then the TOML file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls.toml_path))
        return tuple(sources)

    def rules(self) -> RulesConfig:
        """The part of the configuration the rules engine is bound to."""
        return RulesConfig(
            home=self.home,
            contacts=self.contacts,
            escalation=self.escalation,
            policy=self.policy,
            devices={d.id: DeviceInfo(name=d.name, role=d.role, room=d.room) for d in self.devices},
            medication=self.medication,
        )


def load_config(path: Path) -> HubConfig:
    """Read and validate the configuration file.

    Raises:
        ConfigError: naming every problem, each with the key that caused it.
    """
    if not path.is_file():
        raise ConfigError(str(path), ["no such file (give the path of the hub's TOML file)"])
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(path), [f"not valid TOML: {err}"]) from err
    except OSError as err:
        raise ConfigError(str(path), [f"cannot be read: {err.strerror}"]) from err
    _refuse_exposed_secrets(path, raw)
    bound = type("HubConfigFile", (HubConfig,), {"toml_path": path})
    try:
        config: HubConfig = bound()
    except ValidationError as err:
        raise ConfigError(str(path), [_describe(e) for e in err.errors()]) from err
    return config


def _refuse_exposed_secrets(path: Path, raw: dict[str, Any]) -> None:
    """A file that anyone on the machine can read must not hold passwords or tokens."""
    if not path.stat().st_mode & stat.S_IROTH:
        return
    found = sorted(_secret_keys(raw))
    if found:
        raise ConfigError(
            str(path),
            [
                f"{key}: a secret in a file everyone can read; run `chmod 640 {path}` or set"
                f" it in the environment (TELECARE_{key.upper().replace('.', '__')})"
                for key in found
            ],
        )


def _secret_keys(table: dict[str, Any], prefix: str = "") -> list[str]:
    found: list[str] = []
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found.extend(_secret_keys(value, f"{name}."))
        elif key in SECRET_KEYS and value:
            found.append(name)
    return found


def config_from_dict(data: dict[str, Any]) -> HubConfig:
    """Validate a configuration given as a mapping (the demo builds its own)."""
    try:
        return HubConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError("configuration", [_describe(e) for e in err.errors()]) from err


_NO_ECHO = frozenset({"missing", "extra_forbidden", "value_error"})


def _describe(error: ErrorDetails) -> str:
    key = ""
    for part in error["loc"]:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] == "missing":
        message = "required key is missing"
    else:
        message = error["msg"].removeprefix("Value error, ")
    given = error.get("input")
    if error["type"] not in _NO_ECHO and isinstance(given, str | int | float | bool):
        message += f" (got {given!r:.60})"
    return f"{key or '(top level)'}: {message}"


def _refuse_repeats(what: str, values: list[str]) -> None:
    repeated = sorted(v for v, n in Counter(values).items() if n > 1)
    if repeated:
        msg = f"{what} used more than once: {', '.join(repeated)}"
        raise ValueError(msg)
