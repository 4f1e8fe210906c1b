"""Options and helpers shared by the `telecare` commands."""

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

import click

from hub.config.file import ConfigError, HubConfig, load_config
from hub.store.errors import StoreError
from hub.store.store import Store

T = TypeVar("T")

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


def fail(message: str, *, code: int) -> NoReturn:
    """Say what went wrong on stderr and exit with `code`."""
    click.echo(f"telecare: {message}", err=True)
    sys.exit(code)


def run_with_signals(main: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run `main(stop)` on a new loop; SIGINT and SIGTERM set `stop` for a clean shutdown."""

    async def runner() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        return await main(stop)

    return asyncio.run(runner())


def read_store(path: Path, query: Callable[[Store], Awaitable[list[T]]]) -> list[T]:
    """Run a read-only query on the hub's database, or exit 1 saying why it cannot be read."""

    async def read() -> list[T]:
        async with Store.open(path, readonly=True) as store:
            return await query(store)

    if not path.is_file():
        fail(f"no hub database at {path} (has the hub run yet?)", code=1)
    try:
        return asyncio.run(read())
    except StoreError as err:
        fail(str(err), code=1)
