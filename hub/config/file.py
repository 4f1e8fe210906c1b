"""The hub's one configuration file: a TOML file validated at start, secrets from the environment.

Environment variables override the file, with the prefix `TELECARE_` and `__` between levels:
`TELECARE_MQTT__PASSWORD` sets `[mqtt] password`.
"""

import stat
import tomllib
from pathlib import Path
from typing import Any, ClassVar

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from drivers.gpio_settings import GpioSettings
from hub.config.sections import (
    DeviceConfig,
    HeartbeatSettings,
    MqttSettings,
    SimulationSettings,
    StoreSettings,
    SupervisionSettings,
    WebSettings,
    refuse_repeats,
)
from hub.uplink.settings import CentreSettings
from notifier.settings import (
    AppriseSettings,
    DeliverySettings,
    NtfySettings,
    PushoverSettings,
    TwilioSettings,
)
from rules.policy import (
    Contact,
    DeviceInfo,
    EscalationPlan,
    Home,
    Policies,
    RulesConfig,
    escalation_problems,
)
from rules.policy import Severity as SeverityName
from rules.routines import Medication

SECRET_KEYS = frozenset(
    {"password", "auth_token", "token", "app_token", "passcode_hash", "secret", "key"}
)


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists one line per bad key."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


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
    pushover: PushoverSettings | None = None
    apprise: AppriseSettings = AppriseSettings()
    delivery: DeliverySettings = DeliverySettings()
    centre: CentreSettings | None = None

    @field_validator("contacts")
    @classmethod
    def _unique_contacts(cls, contacts: tuple[Contact, ...]) -> tuple[Contact, ...]:
        if not contacts:
            msg = "at least one contact is needed: nobody would be told of an alarm"
            raise ValueError(msg)
        refuse_repeats("contact name", [c.name for c in contacts])
        return contacts

    @field_validator("devices")
    @classmethod
    def _unique_devices(cls, devices: tuple[DeviceConfig, ...]) -> tuple[DeviceConfig, ...]:
        refuse_repeats("device id", [d.id for d in devices])
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
        refuse_repeats("medication name", [m.name for m in medication])
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
