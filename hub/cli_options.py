"""Options and helpers shared by the `telecare` commands."""

import sys
from pathlib import Path

import click

from hub.config import ConfigError, HubConfig, load_config

DEFAULT_CONFIG = Path("/etc/telecare/hub.toml")
EXIT_USAGE = 2

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG,
    envvar="TELECARE_CONFIG",
    show_default=True,
    help="The hub's TOML configuration file (or set TELECARE_CONFIG).",
)
db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read this database instead of the one named in the configuration.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")


def load_or_exit(path: Path) -> HubConfig:
    """The validated configuration, or every problem on stderr and exit 2."""
    try:
        return load_config(path)
    except ConfigError as err:
        click.echo(f"telecare: configuration problem in {err.source}:", err=True)
        for problem in err.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(EXIT_USAGE)
