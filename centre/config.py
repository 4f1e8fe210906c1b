"""`centre.toml`: the monitoring centre's one configuration file, validated at start.

Secrets are better given in the environment: `TELECARE_CENTRE_NATS__PASSWORD`,
`TELECARE_CENTRE_POSTGRES__DSN`, `TELECARE_CENTRE_NOTIFY__TWILIO__AUTH_TOKEN`. An error names
the key that caused it (`nats.servers.0: ...`).
"""

import tomllib
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from centre.console.settings import ConsoleSettings
from centre.partitions import UPLINK_PARTITIONS
from notifier.settings import NtfySettings, TwilioSettings


class ConfigError(Exception):
    """The configuration is missing or invalid; lists every problem with its key."""

    def __init__(self, where: str, problems: list[str]) -> None:
        super().__init__(f"{where}: " + "; ".join(problems))
        self.problems = problems


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NatsSection(_Section):
    """`[nats]`: the cluster, the centre's own user, and how to tell the brokers of new hubs.

    Attributes:
        servers: Every node's client URL, `tls://host:port`.
        ca_file: The CA that signed the nodes' certificates (hubs get the same file).
        accounts_file: The `accounts.conf` every node includes; rewritten when a home is added.
        pid_files: Local nats-server pid files to signal for a reload after a rewrite.
        replicas: Copies of each stream (3 on a 3-node cluster).
    """

    servers: list[str] = Field(min_length=1)
    user: str = "centre"
    password: SecretStr
    ca_file: Path
    accounts_file: Path | None = None
    pid_files: list[Path] = Field(default_factory=list)
    replicas: int = Field(default=3, ge=1, le=5)


class PostgresSection(_Section):
    """`[postgres]`: `dsn` is a libpq URL (`postgresql://centre@db.example.org/centre`)."""

    dsn: SecretStr


class SilenceSection(_Section):
    """`[silence]`: seconds without a heartbeat before a hub is silent, and how often to look."""

    silent_after_s: float = Field(default=180, ge=30, le=86_400)
    tick_s: float = Field(default=5, gt=0, le=60)


class NotifySection(_Section):
    """`[notify]`: how the centre reaches families: `[notify.ntfy]`, `[notify.twilio]`."""

    ntfy: NtfySettings | None = None
    twilio: TwilioSettings | None = None


class CentreConfig(BaseSettings):
    """The whole of `centre.toml`."""

    model_config = SettingsConfigDict(
        env_prefix="TELECARE_CENTRE_", env_nested_delimiter="__", extra="forbid", frozen=True
    )
    toml_path: ClassVar[Path | None] = None

    nats: NatsSection
    postgres: PostgresSection
    console: ConsoleSettings = ConsoleSettings()
    silence: SilenceSection = SilenceSection()
    notify: NotifySection = NotifySection()
    workers: int = Field(default=1, ge=1, le=UPLINK_PARTITIONS)

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


def load_config(path: Path) -> CentreConfig:
    """Read and validate `centre.toml`.

    Raises:
        ConfigError: naming every problem, each with its key.
    """
    if not path.is_file():
        raise ConfigError(str(path), ["no such file (give the path of centre.toml)"])
    try:
        with path.open("rb") as handle:
            tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(str(path), [f"not valid TOML: {err}"]) from err
    bound: Any = type("CentreConfigFile", (CentreConfig,), {"toml_path": path})
    try:
        config: CentreConfig = bound()
    except ValidationError as err:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
            for e in err.errors()
        ]
        raise ConfigError(str(path), problems) from err
    return config
