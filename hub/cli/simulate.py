"""`telecare simulate`: play a labelled household scenario against a broker."""

import asyncio
import sys

import click

DEFAULT_SPEED = 3600.0


def _broker(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        msg = f"{value!r} is not HOST:PORT"
        raise click.BadParameter(msg)
    return host, int(port)


@click.command()
@click.argument("scenario")
@click.option(
    "--broker",
    default="127.0.0.1:1883",
    show_default=True,
    help="The broker the hub listens on, as HOST:PORT.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=1),
    default=DEFAULT_SPEED,
    show_default=True,
    help="Scenario seconds per real second (3600: an hour a second).",
)
def simulate(scenario: str, broker: str, speed: float) -> None:
    """Play SCENARIO (a shipped name or a TOML file) with simulated devices.

    Each device connects with its own MQTT client (Zigbee devices behind one simulated
    Zigbee2MQTT bridge) and behaves as the timeline says, in scaled real time. The hub's own
    confirm windows run in real time, so use a low --speed to see them play out.
    """
    # The simulator is loaded by this command, not by the hub's service.
    from firmware_sim.player import Emission, play_live  # noqa: PLC0415
    from firmware_sim.scenario import ScenarioError, load_scenario, shipped_names  # noqa: PLC0415

    try:
        loaded = load_scenario(scenario)
    except ScenarioError as err:
        click.echo(f"telecare: scenario problem in {err}", err=True)
        click.echo(f"shipped scenarios: {', '.join(shipped_names())}", err=True)
        sys.exit(2)
    host, port = _broker(broker)

    def show(emission: Emission) -> None:
        label = "" if emission.step.label == "not_at_work" else f"  [{emission.step.label}]"
        click.echo(
            f"{emission.at:%a %H:%M:%S}  {emission.device.id:<16} {emission.event:<20}"
            f" {emission.step.note}{label}"
        )

    sent = asyncio.run(play_live(loaded, host, port, speed=speed, on_emit=show))
    click.echo(f"{loaded.name}: {sent} device events played")
