"""`telecare ack`, `resolve` and `occupancy`: tell the running hub over its control topics.

The running hub owns the database; these publish a request on the local broker and wait until
the hub publishes the outcome.
"""

from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

import click
from pydantic import ValidationError

from hub.cli.options import fail, load_or_exit
from wire.control import (
    ACK_TOPIC,
    MAX_NOTE_CHARS,
    OCCUPANCY_CONTROL_TOPIC,
    OCCUPANCY_TOPIC,
    RESOLVE_TOPIC,
    AckPayload,
    OccupancyPayload,
    OccupancyRequest,
    ResolvePayload,
)
from wire.schema import IncidentPayload, incident_topic

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("/etc/telecare/hub.toml"),
    envvar="TELECARE_CONFIG",
    show_default=True,
    help="The hub's TOML configuration file (or set TELECARE_CONFIG).",
)
timeout_option = click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=1),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the hub to confirm.",
)


@click.command()
@click.argument("incident_id")
@click.option("--by", required=True, help="Who is handling it (a contact's name).")
@config_option
@timeout_option
def ack(incident_id: str, by: str, config_path: Path, timeout_s: float) -> None:
    """Say BY is handling INCIDENT_ID: its calls stop and the other contacts hear who has it.

    The running hub carries it out (it owns the database); this waits until the hub publishes
    the incident as acknowledged, and exits 1 if it does not within the timeout.
    """
    payload = AckPayload(incident_id=incident_id, by=by).model_dump_json().encode()
    reply = _request(
        config_path, (ACK_TOPIC, payload), incident_topic(incident_id), _acknowledged, timeout_s
    )
    if reply is None:
        _unconfirmed(incident_id, timeout_s)
    incident = IncidentPayload.model_validate_json(reply)
    click.echo(f"{incident.id}: acknowledged by {incident.acknowledged_by} - {incident.text}")


@click.command()
@click.argument("incident_id")
@click.option("--by", required=True, help="Who says it is over (a contact's name).")
@click.option("--note", help=f"Why, for the incident's notes (up to {MAX_NOTE_CHARS} characters).")
@config_option
@timeout_option
def resolve(
    incident_id: str, by: str, note: str | None, config_path: Path, timeout_s: float
) -> None:
    """Say INCIDENT_ID is over: it closes, its calls stop, and everyone told hears BY resolved it.

    Use it when help has arrived or the alarm was a mistake ("Mum pressed by mistake"). The
    running hub carries it out; this waits until the hub publishes the incident as resolved,
    and exits 1 if it does not within the timeout.
    """
    try:
        request = ResolvePayload(incident_id=incident_id, by=by, note=note or None)
    except ValidationError as err:
        fail(f"cannot resolve: {err.errors()[0]['loc'][0]}: {err.errors()[0]['msg']}", code=2)
    reply = _request(
        config_path,
        (RESOLVE_TOPIC, request.model_dump_json().encode()),
        incident_topic(incident_id),
        _resolved,
        timeout_s,
    )
    if reply is None:
        _unconfirmed(incident_id, timeout_s)
    incident = IncidentPayload.model_validate_json(reply)
    click.echo(f"{incident.id}: resolved by {by} - {incident.text}")


@click.command()
@click.argument("where", type=click.Choice(["home", "away"]))
@click.option("--by", required=True, help="Who is at home with her, or has left.")
@config_option
@timeout_option
def occupancy(where: str, by: str, config_path: Path, timeout_s: float) -> None:
    """Say someone is at HOME with her (door and wellbeing alarms held back), or AWAY again.

    Pendant, fall and smoke alarms are never held back.
    """
    home = where == "home"
    payload = OccupancyRequest(home=home, by=by).model_dump_json().encode()

    def settled(body: bytes) -> bool:
        try:
            state = OccupancyPayload.model_validate_json(body)
        except ValidationError:
            return False
        return state.home == home and (state.by == by or not home)

    reply = _request(
        config_path, (OCCUPANCY_CONTROL_TOPIC, payload), OCCUPANCY_TOPIC, settled, timeout_s
    )
    if reply is None:
        fail(f"the hub did not confirm in {timeout_s:g} s: is the hub running?", code=1)
    click.echo(
        f"{by} is at home: door and wellbeing alarms held back"
        if home
        else "she is on her own: every rule is on"
    )


def _request(
    config_path: Path,
    publish: tuple[str, bytes],
    watch: str,
    accept: Callable[[bytes], bool],
    timeout_s: float,
) -> bytes | None:
    from hub.mqtt.client import BrokerUnavailableError  # noqa: PLC0415  # fast --help
    from hub.mqtt.oneshot import request_reply  # noqa: PLC0415

    config = load_or_exit(config_path)
    try:
        return request_reply(
            config.mqtt, publish=publish, watch=watch, accept=accept, timeout_s=timeout_s
        )
    except BrokerUnavailableError as err:
        fail(f"cannot reach the broker at {config.mqtt.host}:{config.mqtt.port}: {err}", code=1)


def _acknowledged(body: bytes) -> bool:
    try:
        return IncidentPayload.model_validate_json(body).state == "acknowledged"
    except ValidationError:
        return False  # an empty retained message: the incident closed


def _resolved(body: bytes) -> bool:
    try:
        return IncidentPayload.model_validate_json(body).state == "resolved"
    except ValidationError:
        return False  # the retained copy being cleared


def _unconfirmed(incident_id: str, timeout_s: float) -> NoReturn:
    fail(
        f"the hub did not confirm {incident_id} in {timeout_s:g} s: is the hub running,"
        " and is the incident open? (telecare incidents --open)",
        code=1,
    )
