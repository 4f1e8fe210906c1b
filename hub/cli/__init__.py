"""The `telecare` command."""

import json
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

import click

from hub.cli.incidents import ack, occupancy, resolve
from hub.cli.options import config_option, db_option, json_option
from hub.cli.options import fail as _fail
from hub.cli.options import load_or_exit as _load_or_exit
from hub.cli.options import read_store as _read_store
from hub.cli.options import run_with_signals as _run_with_signals
from hub.cli.report import report
from hub.cli.service import backup, doctor
from hub.cli.simulate import simulate
from hub.cli.web import web
from hub.service.console import setup_logging
from hub.store.errors import StoreError

T = TypeVar("T")


class _WithPlugins(click.Group):
    """`telecare` and the command groups of other packages, loaded only when asked for.

    Packages add a group through the entry-point group `telecare.commands` (the monitoring
    centre's `telecare centre`), so hub/ never imports them, and `telecare run` never loads them.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        plugins = {entry.name for entry in entry_points(group=PLUGIN_GROUP)}
        return sorted({*super().list_commands(ctx), *plugins})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        for entry in entry_points(group=PLUGIN_GROUP, name=cmd_name):
            loaded: click.Command = entry.load()
            return loaded
        return None


PLUGIN_GROUP = "telecare.commands"


@click.group(cls=_WithPlugins, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more detail.")
def main(verbose: bool) -> None:
    """Telecare hub: sensors in, the right person told, nothing else interrupts them."""
    setup_logging(verbose=verbose)


@main.command()
@config_option
def run(config_path: Path) -> None:
    """Run the hub service until SIGTERM or Ctrl-C."""
    from hub.service.app import serve  # noqa: PLC0415  # keep `telecare --help` fast
    from hub.service.collector import settle_after_start  # noqa: PLC0415

    config = _load_or_exit(config_path)
    try:
        rejects = _run_with_signals(lambda stop: serve(config, stop, on_ready=settle_after_start))
    except StoreError as err:
        _fail(str(err), code=1)
    if rejects.counts:
        click.echo(f"dropped inputs by cause: {dict(rejects.counts)}", err=True)


@main.command()
@click.option(
    "--duration",
    type=click.FloatRange(min=1),
    help="End after this many seconds (default: when the scenario has played out).",
)
def demo(duration: float | None) -> None:
    """Play a short household scenario against a local broker and hub, then summarise.

    Nothing to install or configure: it starts Mosquitto if installed (or an embedded broker)
    on a free port, a hub with a temporary store, and simulated devices. Ctrl-C ends it.
    """
    from hub.cli.demo import run_demo  # noqa: PLC0415  # keep `telecare --help` fast

    click.echo("Telecare hub demo: Mum at home, Alice (her daughter) at work.\n")
    summary = _run_with_signals(lambda stop: run_demo(stop, duration_s=duration))
    click.echo("\n" + "\n".join(summary.lines()))


@main.group()
def config() -> None:
    """Work with the configuration file."""


@config.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--mosquitto-conf",
    "mosquitto_conf",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Mosquitto's main configuration file, read with the files it includes"
    " [default: /etc/mosquitto/mosquitto.conf]; nothing is compared if it does not exist.",
)
def config_check(file: Path, mosquitto_conf: Path | None) -> None:
    """Validate FILE; print every problem with the key that caused it (exit 2 if any).

    Warnings (exit 0) name what is valid but would not get through: an SMS sender UK networks
    block, alarms by SMS (as a step, or when a step's channel fails) asking for a reply to an
    alphanumeric sender ID (which nobody can reply to), WhatsApp alarms outside its 24-hour
    window, and a broker on this machine whose max_inflight_messages (in Mosquitto's
    configuration, or its default of 20 when none sets it) differs from [mqtt]
    broker_max_inflight: a smaller one stalls alarms while the card refuses writes. It also
    warns when a failed alarm delivery would be noticed more than 30 s after it was sent
    (Twilio's poll_s without public_url, Pushover's delivery_window_s and poll_s): the alarm
    moves to the contact's next path only then.
    """
    from hub.config import mosquitto  # noqa: PLC0415  # keep `--help` fast
    from hub.config.phones import failover_warnings, sender_warnings  # noqa: PLC0415

    loaded = _load_or_exit(file)
    click.echo(
        f"{file}: OK ({len(loaded.contacts)} contact(s), {len(loaded.devices)} device(s),"
        f" store {loaded.store.path})"
    )
    broker = mosquitto_conf or mosquitto.MOSQUITTO_CONF
    warnings = sender_warnings(loaded) + failover_warnings(loaded)
    warnings += mosquitto.inflight_warnings(loaded, file, broker)
    for warning in warnings:
        click.echo(f"warning: {warning}")


@main.command()
@config_option
@db_option
@json_option
@click.option("--limit", type=click.IntRange(min=1), help="Only the newest N events.")
def events(config_path: Path, db_path: Path | None, as_json: bool, limit: int | None) -> None:
    """List stored device events, oldest first."""
    path = db_path or _load_or_exit(config_path).store.path
    rows = _read_store(path, lambda store: store.events(limit=limit))
    for row in rows:
        record: dict[str, Any] = {"id": row.id, **row.event.model_dump(mode="json")}
        if as_json:
            click.echo(json.dumps(record))
        else:
            extra = "".join(
                f" {k}={record[k]}" for k in ("seq", "battery", "value") if record[k] is not None
            )
            click.echo(
                f"{row.event.received_at:%Y-%m-%d %H:%M:%S}  "
                f"{row.event.device_id:<16} {row.event.type:<20}{extra}"
            )


@main.command()
@config_option
@db_option
@json_option
@click.option("--open", "open_only", is_flag=True, help="Only incidents still open.")
def incidents(config_path: Path, db_path: Path | None, as_json: bool, open_only: bool) -> None:
    """List incidents, oldest first."""
    path = db_path or _load_or_exit(config_path).store.path
    rows = _read_store(path, lambda store: store.incidents(open_only=open_only))
    for incident in rows:
        if as_json:
            click.echo(incident.model_dump_json())
        else:
            click.echo(
                f"{incident.opened_at:%Y-%m-%d %H:%M:%S}  {incident.id:<34} "
                f"{incident.severity:<9} {incident.state:<12} {incident.text}"
            )


main.add_command(doctor)
main.add_command(backup)
main.add_command(simulate)
main.add_command(ack)
main.add_command(resolve)
main.add_command(occupancy)
from hub.cli.devices import DEVICE_COMMANDS  # noqa: E402  # `pair` and `devices`

for _command in DEVICE_COMMANDS:
    main.add_command(_command)
from hub.cli.notify import test_alert  # noqa: E402  # commands in their own modules

main.add_command(test_alert)
main.add_command(web)
main.add_command(report)
