"""`telecare centre ...`: run the monitoring centre, register homes and operators, the demo.

Loaded by the `telecare` command through the `telecare.commands` entry point, so the hub's
code never imports the centre's.
"""

import asyncio
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from centre.app import open_centre, run_worker
from centre.config import CentreConfig, ConfigError, load_config
from centre.console.actions import DownlinkActions
from centre.console.app import serve_console
from centre.console.passwords import WeakPasswordError, hash_password
from centre.db import homes as homes_db
from centre.db.homes import RegistrationError
from centre.db.models import ContactRow, HomeRow, HubCredentials
from centre.db.pool import DatabaseError, open_pool
from centre.partitions import UPLINK_PARTITIONS
from centre.processes import WorkerProcesses, until_stopped

T = TypeVar("T")
config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("centre.toml"),
    show_default=True,
    help="The centre's configuration file.",
)


def _load(path: Path) -> CentreConfig:
    try:
        return load_config(path)
    except ConfigError as err:
        raise click.ClickException(str(err)) from err


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(work())
    except (DatabaseError, RegistrationError) as err:
        raise click.ClickException(str(err)) from err


@click.group()
def centre() -> None:
    """The monitoring centre: many homes' hubs, the operators' queue, escalation."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("telecare").setLevel(logging.INFO)


@centre.command()
@config_option
@click.option(
    "--workers",
    type=click.IntRange(1, UPLINK_PARTITIONS),
    default=None,
    help="Workers: this process and N-1 worker processes it keeps running, the uplink's "
    f"{UPLINK_PARTITIONS} partitions shared among them [default: workers].",
)
def run(config_path: Path, workers: int | None) -> None:
    """Run the centre: workers, timers (silent hubs, escalation), until SIGTERM or SIGINT.

    A worker process that dies is started again; stopping the centre stops them all first.
    """
    config = _load(config_path)
    if workers is not None:
        config = config.model_copy(update={"workers": workers})
    command = [sys.executable, "-m", "centre.cli", "worker", "--config", str(config_path)]
    command += ["--parent-pid", str(os.getpid()), "--workers", str(config.workers)]
    processes = WorkerProcesses(command, config.workers - 1)
    _run(lambda: until_stopped(_serve(config, processes)))


async def _serve(config: CentreConfig, processes: WorkerProcesses) -> None:
    async with (
        open_centre(config) as running,
        serve_console(
            running.pool,
            config.console,
            actions=DownlinkActions(running.pool, running.downlink),
            relay=running.relay,
        ) as console,
    ):
        where = f"console on port {console.port}" if console.port else "console disabled"
        click.echo(
            f"centre running on {', '.join(config.nats.servers)}; {where}; "
            f"{processes.count} worker processes besides this one",
            err=True,
        )
        async with asyncio.TaskGroup() as group:
            group.create_task(running.run(), name="centre")
            group.create_task(processes.run(), name="centre-worker-processes")


@centre.command(hidden=True)
@config_option
@click.option("--parent-pid", type=int, default=None, help="Stop when this process is gone.")
@click.option(
    "--workers",
    type=click.IntRange(1, UPLINK_PARTITIONS),
    required=True,
    help="How many workers share the partitions.",
)
@click.option("--slot", type=click.IntRange(1), required=True, help="Which of them this is.")
def worker(config_path: Path, parent_pid: int | None, workers: int, slot: int) -> None:
    """One extra worker process (started by `run --workers N`), until SIGTERM or SIGINT."""
    if slot >= workers:
        msg = f"--slot {slot} is not one of the {workers - 1} worker processes (1 to {workers - 1})"
        raise click.BadParameter(msg, param_hint="--slot")
    config = _load(config_path).model_copy(update={"workers": workers})
    name = f"centre-worker-{slot}-{os.getpid()}"
    _run(lambda: until_stopped(run_worker(config, name, slot), parent_pid=parent_pid))


@centre.group(invoke_without_command=True)
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per home.")
@click.pass_context
def homes(ctx: click.Context, config_path: Path, as_json: bool) -> None:
    """List the homes and their hubs (or `homes add`)."""
    if ctx.invoked_subcommand is not None:
        return
    config = _load(config_path)

    async def listing() -> list[HomeRow]:
        dsn = config.postgres.dsn.get_secret_value()
        async with open_pool(dsn, max_size=1) as pool, pool.acquire() as conn:
            return await homes_db.homes(conn)

    for home in _run(listing):
        if as_json:
            click.echo(home.model_dump_json())
            continue
        heard = f"{home.last_heartbeat:%Y-%m-%d %H:%M}" if home.last_heartbeat else "never heard"
        silent = "  SILENT" if home.silent_since else ""
        click.echo(f"{home.id:<24} {home.name:<30} {heard:<17} {home.open_alarms} open{silent}")


def _contact(home_id: str, text: str) -> ContactRow:
    name, _, rest = text.partition(":")
    phone, _, topic = rest.partition(":")
    if not name:
        msg = f"{text!r} is not NAME[:PHONE[:NTFY_TOPIC]]"
        raise click.BadParameter(msg, param_hint="--contact")
    return ContactRow(home_id=home_id, name=name, phone=phone or None, ntfy_topic=topic or None)


def _escalation(pairs: tuple[str, ...]) -> dict[str, int] | None:
    found: dict[str, int] = {}
    for pair in pairs:
        key, _, seconds = pair.partition("=")
        if not key or not seconds.isdigit():
            msg = f"{pair!r} is not CAUSE_OR_SEVERITY=SECONDS"
            raise click.BadParameter(msg, param_hint="--escalation")
        found[key] = int(seconds)
    return found or None


@homes.command("add")
@config_option
@click.argument("home_id")
@click.option("--name", required=True, help="The home as operators see it.")
@click.option("--contact", "contacts", multiple=True, help="NAME[:PHONE[:NTFY_TOPIC]], repeatable.")
@click.option("--escalation", multiple=True, help="CAUSE_OR_SEVERITY=SECONDS (emergency=180).")
def add_home(
    config_path: Path,
    home_id: str,
    name: str,
    contacts: tuple[str, ...],
    escalation: tuple[str, ...],
) -> None:
    """Register a home and its hub; prints the hub's [centre] block, once."""
    config = _load(config_path)
    family = tuple(_contact(home_id, c) for c in contacts)

    async def register() -> HubCredentials:
        async with open_centre(config, name="centre-admin") as running:
            return await running.registry.add_home(
                home_id, name, contacts=family, escalation=_escalation(escalation)
            )

    credentials = _run(register)
    click.echo(hub_block(config, credentials))


def hub_block(config: CentreConfig, credentials: HubCredentials) -> str:
    """The `[centre]` section of the hub's hub.toml (the only copy of its secrets)."""
    servers = ", ".join(json.dumps(s) for s in config.nats.servers)
    return (
        f"# Home {credentials.home_id}: add to the hub's hub.toml (shown once).\n"
        "[centre]\n"
        f"servers = [{servers}]\n"
        f"hub_id = {json.dumps(credentials.hub_id)}\n"
        f"password = {json.dumps(credentials.nats_password)}\n"
        f"key = {json.dumps(credentials.key_hex)}\n"
        f"ca_file = {json.dumps(str(config.nats.ca_file))}  # copy this CA file to the hub\n"
    )


@centre.group()
def operators() -> None:
    """The centre's operators."""


@operators.command("add")
@config_option
@click.argument("username")
@click.option("--name", "display_name", required=True, help="As families are told it ('Sam').")
@click.option("--role", type=click.Choice(["operator", "supervisor"]), default="operator")
@click.password_option(help="The console password (asked for if not given).")
def add_operator(
    config_path: Path, username: str, display_name: str, role: str, password: str
) -> None:
    """Add an operator who can log in to the console."""
    config = _load(config_path)
    try:
        hashed = hash_password(password)
    except WeakPasswordError as err:
        raise click.BadParameter(str(err), param_hint="--password") from err

    async def add() -> None:
        dsn = config.postgres.dsn.get_secret_value()
        async with open_pool(dsn, max_size=1) as pool, pool.acquire() as conn:
            await homes_db.add_operator(conn, username, display_name, role, hashed)

    _run(add)
    click.echo(f"operator {username} ({display_name}, {role}) added")


@centre.command()
def demo() -> None:
    """Start a cluster, PostgreSQL and the centre; play a pendant press nobody answers."""
    from centre.demo import run_demo  # noqa: PLC0415 - the demo's servers load only when asked

    logging.getLogger("telecare").setLevel(logging.ERROR)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    run_demo()


if __name__ == "__main__":
    centre()
