"""The hub's one configuration file: a TOML file validated at start, secrets from the environment.

Environment variables override the file, with the prefix `TELECARE_` and `__` between levels:
`TELECARE_MQTT__PASSWORD` sets `[mqtt] password`.
"""

import tomllib
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
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

from hub.wire import DEVICE_ID_PATTERN, PREFIX, is_device_id
from rules.events import Source
from rules.policy import Contact, DeviceInfo, EscalationPlan, Home, Policies, Role, RulesConfig
from rules.policy import Severity as SeverityName


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
    contacts: tuple[Contact, ...]
    devices: tuple[DeviceConfig, ...] = ()
    policy: Policies = Policies()
    supervision: SupervisionSettings = SupervisionSettings()
    gpio: GpioSettings = GpioSettings()
    escalation: dict[SeverityName, EscalationPlan] = Field(default_factory=dict)

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
        names = {c.name for c in info.data["contacts"]}
        for severity, plan in plans.items():
            for index, step in enumerate(plan.steps):
                if step.contact not in names:
                    msg = f"{severity}.steps[{index}].contact: {step.contact!r} is not a contact"
                    raise ValueError(msg)
        return plans

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
            tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(path), [f"not valid TOML: {err}"]) from err
    except OSError as err:
        raise ConfigError(str(path), [f"cannot be read: {err.strerror}"]) from err
    bound = type("HubConfigFile", (HubConfig,), {"toml_path": path})
    try:
        config: HubConfig = bound()
    except ValidationError as err:
        raise ConfigError(str(path), [_describe(e) for e in err.errors()]) from err
    return config


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
