"""`telecare pair` and `telecare devices`: the installer's device registry commands."""

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, get_args

import click

from hub.cli.options import config_option, db_option, json_option
from hub.cli.options import fail as _fail
from hub.cli.options import load_or_exit as _load_or_exit
from hub.cli.options import read_store as _read_store
from hub.cli.options import run_with_signals as _run_with_signals
from hub.cli.pairing import (
    PairingError,
    PairingRequest,
    adopt,
    broker_link,
    identify,
    pair_native,
    pair_zigbee,
    prove,
    subscriptions_for,
)
from hub.config.file import HubConfig
from hub.mqtt.logins import PASSWORD_FILE, BrokerLoginError, add_login, remove_login
from hub.pipeline.supervision import history_trend
from hub.store.errors import StoreError
from hub.store.records import HealthHour
from hub.store.store import NewDevice, Store
from rules.policy import Role
from rules.trend import SPAN, Trend, signal_falling
from wire.devices import DeviceRecord
from wire.schema import is_device_id

T = TypeVar("T")
EXIT_CANCELLED = 130

ROLE_ALIASES = {"fall": "fall_detector", "cord": "pull_cord"}
ROLE_CHOICES = [*get_args(Role), *ROLE_ALIASES]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@config_option
@click.option("--role", type=click.Choice(ROLE_CHOICES), required=True, help="What it is for.")
@click.option("--name", help="How alerts name it (default: its role).")
@click.option("--room", help="Where it is.")
@click.option("--source", type=click.Choice(["zigbee2mqtt", "native"]), default="zigbee2mqtt",
              show_default=True, help="How it reaches the hub.")  # fmt: skip
@click.option("--id", "device_id", help="Its id in the hub (default: role and address).")
@click.option("--adopt", metavar="ADDRESS",
              help="Register a device already heard (`devices --unpaired`).")  # fmt: skip
@click.option("--timeout", type=click.IntRange(1, 600), default=120, show_default=True,
              help="Seconds the pairing window stays open.")  # fmt: skip
@click.option("--verify-timeout", type=click.IntRange(0, 600), default=120, show_default=True,
              help="Seconds to wait for a first event proving it works (0: skip).")  # fmt: skip
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False),
              default=PASSWORD_FILE, show_default=True, envvar="TELECARE_MQTT_PASSWORD_FILE",
              help="Mosquitto's password file: a native device gets its own login there "
                   "(skipped if the file does not exist).")  # fmt: skip
def pair(  # noqa: PLR0917  # click passes each option
    config_path: Path,
    role: str,
    name: str | None,
    room: str | None,
    source: str,
    device_id: str | None,
    adopt: str | None,
    timeout: int,
    verify_timeout: int,
    password_file: Path,
) -> None:
    """Pair one device: open a pairing window, register it, prove it works end to end.

    Ctrl-C closes the pairing window and registers nothing.
    """
    config = _load_or_exit(config_path)
    role = ROLE_ALIASES.get(role, role)
    if device_id is not None and not is_device_id(device_id):
        _fail(f"{device_id!r} cannot be a device id (letters, digits, . _ -)", code=2)
    request = PairingRequest(role, name or role.replace("_", " "), room, timeout, device_id, adopt)
    logins = password_file if password_file.exists() else None
    try:
        outcome = _run_with_signals(
            lambda stop: _until_stopped(
                stop, _pair(config, source, request, verify_timeout, logins)
            )
        )
    except (PairingError, StoreError, BrokerLoginError) as err:
        _fail(str(err), code=1)
    if outcome is None:
        _fail(
            "cancelled; the pairing window is closed and nothing was registered",
            code=EXIT_CANCELLED,
        )


async def _until_stopped(stop: asyncio.Event, work: Coroutine[Any, Any, T]) -> T | None:
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()  # runs the finally clauses: the permit-join window is closed
    await asyncio.gather(task, return_exceptions=True)
    return None


async def _pair(
    config: HubConfig,
    source: str,
    request: PairingRequest,
    verify_s: int,
    logins: Path | None,
) -> bool:
    base = config.mqtt.zigbee2mqtt_base_topic
    async with Store.open(config.store.path) as store:
        registered = await store.devices()
        # Devices in the configuration count too: the hub may not have registered them yet.
        pairs = [(d.id, d.friendly_name) for d in registered]
        pairs += [(d.id, d.friendly_name) for d in config.devices]
        known = {i for i, _ in pairs} | {name for _, name in pairs if name}
        if request.device_id in known:
            raise PairingError(f"{request.device_id} is already registered")
        async with broker_link(config, subscriptions_for(source, base)) as link:
            if request.adopt is not None:
                device = adopt(request, source, await store.unpaired_devices())
            elif source == "zigbee2mqtt":
                device = await pair_zigbee(link, base, request, click.echo, known=known)
            else:
                device = await pair_native(link, request, click.echo, known=known)
            if device.id in known or device.friendly_name in known:
                raise PairingError(f"{device.id} is already registered; choose one with --id")
            await store.register_devices([device], at=datetime.now(UTC))
            click.echo(f"Registered {_describe(device)}.")
            if device.source == "native" and logins is not None:
                secret = await asyncio.to_thread(add_login, device.id, logins)
                click.echo(f"Broker login for the device: user {device.id}, password {secret}")
            if not await link.tell_hub_to_reload("telecare pair"):
                click.echo("The running hub was not told; it will use the device after a restart.")
            if verify_s:
                click.echo(f"Now press the button or trigger the sensor ({verify_s} s)...")
                click.echo(await prove(link, device, base, verify_s))
    return True


def _describe(device: NewDevice) -> str:
    where = f" in the {device.room}" if device.room else ""
    return f"{device.name} ({device.role}{where}) as {device.id}, model {device.model or '?'}"


@click.group(invoke_without_command=True)
@config_option
@db_option
@json_option
@click.option("--unpaired", is_flag=True, help="Devices heard on the broker but not registered.")
@click.pass_context
def devices(
    ctx: click.Context, config_path: Path, db_path: Path | None, as_json: bool, unpaired: bool
) -> None:
    """List registered devices (paired and from the configuration), with their health."""
    ctx.obj = (config_path, db_path)
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_devices, as_json=as_json, unpaired=unpaired)


@devices.command("list")
@json_option
@click.option("--unpaired", is_flag=True, help="Devices heard on the broker but not registered.")
@click.pass_context
def list_devices(ctx: click.Context, as_json: bool, unpaired: bool) -> None:
    """Role, room, model, battery, signal, last seen and state of every device."""
    path = _db_path(ctx)
    if unpaired:
        strangers = _read_store(path, lambda store: store.unpaired_devices())
        for stranger in strangers:
            if as_json:
                click.echo(stranger.model_dump_json())
            else:
                click.echo(
                    f"{stranger.source:<12} {stranger.address:<28} {stranger.model or '?':<16}"
                    f" last heard {stranger.last_seen:%Y-%m-%d %H:%M}  ({stranger.messages} msg)"
                )
        return
    for device in _registered_and_declared(ctx, path):
        click.echo(device.model_dump_json() if as_json else _row(device))


def _registered_and_declared(ctx: click.Context, path: Path) -> list[DeviceRecord]:
    """The registry, plus configured devices the hub has not registered yet.

    Before the hub's first start an installer still sees every device she declared.
    """
    now = datetime.now(UTC)

    async def read(store: Store) -> list[DeviceRecord]:
        return [(await _judged(store, d, now))[0] for d in await store.devices()]

    registered = _read_store(path, read) if path.is_file() else []
    config_path, db_path = ctx.obj
    if db_path is not None:
        return registered
    known = {d.id for d in registered}
    declared = [
        DeviceRecord(
            id=d.id, name=d.name, role=d.role, room=d.room, source=d.source,
            friendly_name=d.friendly_name, model=d.model, origin="config",
            online=None, battery=None, last_seen=None, created_at=now,
        )
        for d in _load_or_exit(config_path).devices
        if d.id not in known
    ]  # fmt: skip
    return sorted([*registered, *declared], key=lambda d: d.id)


@devices.command("show")
@json_option
@click.argument("device_id")
@click.pass_context
def show_device(ctx: click.Context, as_json: bool, device_id: str) -> None:
    """Everything the hub knows of one device, with its signal and battery trends."""
    now = datetime.now(UTC)

    async def read(store: Store) -> list[tuple[DeviceRecord, list[HealthHour]]]:
        return [await _judged(store, d, now) for d in await store.devices() if d.id == device_id]

    found = _read_store(_db_path(ctx), read)
    if not found:
        _fail(f"no device {device_id!r}; see `telecare devices`", code=1)
    device, hours = found[0]
    signal = history_trend(hours, "linkquality", now)
    battery = history_trend(hours, "battery", now)
    if as_json:
        trends = {
            "signal_trend": _trend_json(signal, device.signal_falling),
            "battery_trend": _trend_json(battery, None),
        }
        click.echo(json.dumps({**device.model_dump(mode="json"), **trends}))
        return
    shown = {
        **device.model_dump(mode="json", exclude={"signal_falling"}),
        "commands": _commands(device),
        "signal trend": _trend_text(signal, "/255", device.signal_falling),
        "battery trend": _trend_text(battery, "%", None),
    }
    for key, value in shown.items():
        click.echo(f"{key:<14} {'-' if value is None else value}")


async def _judged(
    store: Store, device: DeviceRecord, now: datetime
) -> tuple[DeviceRecord, list[HealthHour]]:
    """The device with its signal judged from its history, and that history."""
    hours = await store.signal_history(device.id, now - SPAN)
    signal = history_trend(hours, "linkquality", now)
    falling = signal_falling(signal) if signal is not None else None
    return device.model_copy(update={"signal_falling": falling}), hours


def _trend_text(trend: Trend | None, unit: str, falling: bool | None) -> str:
    if trend is None:
        return "- (needs reports over the last day and the week before)"
    verdict = {True: ": falling", False: ": steady", None: ""}[falling]
    return f"{trend.before:.0f} -> {trend.recent:.0f}{unit} over {trend.days} days{verdict}"


def _trend_json(trend: Trend | None, falling: bool | None) -> dict[str, object] | None:
    if trend is None:
        return None
    body: dict[str, object] = {"before": trend.before, "recent": trend.recent, "days": trend.days}
    return body if falling is None else {**body, "falling": falling}


def _commands(device: DeviceRecord) -> str:
    """What the hub can ask of the device (reassurance light, reminder chime, identify)."""
    if device.source == "gpio":
        return "- (wired: the hub's status light shows help is coming)"
    if device.source != "zigbee2mqtt":
        return "reassure, chime, identify (on its command topic)"
    if device.commands is None:
        return "- (not listed by Zigbee2MQTT yet)"
    if not device.commands:
        return "none: its model exposes nothing the hub can command (no light, chime or identify)"
    return device.commands.replace(",", ", ")


@devices.command("identify")
@click.argument("device_id")
@click.pass_context
def identify_device(ctx: click.Context, device_id: str) -> None:
    """Make a device blink or beep, to find it among others."""
    config = _load_or_exit(ctx.obj[0])
    found = [d for d in _read_store(_db_path(ctx), lambda s: s.devices()) if d.id == device_id]
    if not found:
        _fail(f"no device {device_id!r}; see `telecare devices`", code=1)
    base = config.mqtt.zigbee2mqtt_base_topic

    async def run() -> str:
        async with broker_link(config, (f"{base}/bridge/devices",)) as link:
            return await identify(link, found[0], base)

    try:
        click.echo(asyncio.run(run()))
    except PairingError as err:
        _fail(str(err), code=1)


@devices.command("rename")
@click.argument("device_id")
@click.argument("name", required=False)
@click.option("--room", help="Move it to this room.")
@click.pass_context
def rename_device(ctx: click.Context, device_id: str, name: str | None, room: str | None) -> None:
    """Give a paired device a new NAME (and, with --room, a new room)."""
    if name is None and room is None:
        _fail("give a new name, --room, or both", code=2)
    _change(ctx, device_id, lambda store: store.update_device(device_id, name=name, room=room))
    click.echo(f"{device_id} updated.")


@devices.command("remove")
@click.argument("device_id")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False),
              default=PASSWORD_FILE, show_default=True, envvar="TELECARE_MQTT_PASSWORD_FILE",
              help="Mosquitto's password file: the device's login is deleted from it.")  # fmt: skip
@click.pass_context
def remove_device(ctx: click.Context, device_id: str, password_file: Path) -> None:
    """Forget a paired device and its broker login; its stored events are kept."""
    _change(ctx, device_id, lambda store: store.remove_device(device_id))
    if password_file.exists():
        try:
            remove_login(device_id, password_file)
        except BrokerLoginError as err:
            _fail(f"{device_id} removed, but its broker login is not: {err}", code=1)
    click.echo(f"{device_id} removed; messages from it are now ignored.")


def _change(ctx: click.Context, device_id: str, change: Callable[[Store], Awaitable[bool]]) -> None:
    config = _load_or_exit(ctx.obj[0])
    if any(d.id == device_id for d in config.devices):
        _fail(f"{device_id} is declared in {ctx.obj[0]}; change it there", code=1)

    async def run() -> bool:
        async with Store.open(ctx.obj[1] or config.store.path) as store:
            if not await change(store):
                return False
        try:
            async with broker_link(config, ()) as link:
                await link.tell_hub_to_reload("telecare devices")
        except PairingError:
            click.echo("The broker is unreachable; the hub will see the change at its next start.")
        return True

    try:
        changed = asyncio.run(run())
    except StoreError as err:
        _fail(str(err), code=1)
    if not changed:
        _fail(f"no device {device_id!r}; see `telecare devices`", code=1)


def _db_path(ctx: click.Context) -> Path:
    config_path, db_path = ctx.obj
    return db_path or _load_or_exit(config_path).store.path


def _row(device: DeviceRecord) -> str:
    state = {True: "online", False: "OFFLINE", None: "-"}[device.online]
    seen = f"{device.last_seen:%Y-%m-%d %H:%M}" if device.last_seen else "never"
    battery = f"{device.battery}%" if device.battery is not None else "-"
    signal = f"{device.linkquality}/255" if device.linkquality is not None else "-"
    signal += " falling" if device.signal_falling else ""
    return (
        f"{device.id:<20} {device.name:<18} {device.role:<13} {device.room or '-':<12}"
        f" {device.model or '-':<14} {battery:>5} {signal:>15}  {seen:<16} {state:<8}"
        f" {device.origin}"
    )


DEVICE_COMMANDS = (pair, devices)
