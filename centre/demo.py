"""`telecare centre demo`: a centre with three homes, and a pendant press nobody answers.

Starts a 3-node NATS cluster and a PostgreSQL in a temporary folder, the centre (workers and
timers), and three simulated hubs that speak the real uplink protocol. One home's pendant is
pressed and the family does not answer: the incident reaches the operators' queue when the
home's escalation seconds are up; an operator accepts it, the hub receives the signed action,
and reports it applied. Everything is stopped and removed at the end. A step that does not happen
in time ends the demo with an error naming it, rather than a hang or a silent end.
"""

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import click
from pydantic import SecretStr

from centre.app import Centre, open_centre
from centre.config import CentreConfig, NatsSection, PostgresSection, SilenceSection
from centre.db import alarms, homes
from centre.db.models import AlarmRow, ContactRow
from centre.servers.nats import CENTRE_USER, NatsCluster
from centre.servers.postgres import LocalPostgres
from centre.simhub import SimulatedHub
from wire.uplink import DeviceSummary, OperatorAction

DEMO_ESCALATION_S = 15
STEP_TIMEOUT_S = 30.0  # each step after the escalation takes well under a second
T = TypeVar("T")
HOMES = (("mum", "Mum's flat"), ("grandad", "Grandad's house"), ("aunt-jo", "Aunt Jo's"))


def _say(started: float, text: str) -> None:
    click.echo(f"[{time.monotonic() - started:6.1f} s] {text}")


def run_demo() -> None:
    """Play the demo from start to end."""
    with tempfile.TemporaryDirectory(prefix="telecare-centre-demo-") as folder:
        started = time.monotonic()
        click.echo("Starting a 3-node NATS JetStream cluster (TLS) and PostgreSQL ...")
        with NatsCluster(Path(folder) / "nats") as cluster, LocalPostgres(fsync=False) as pg:
            _say(started, f"NATS on {', '.join(cluster.servers)}; PostgreSQL on {pg.port}")
            config = CentreConfig(
                nats=NatsSection(
                    servers=cluster.servers, user=CENTRE_USER,
                    password=SecretStr(cluster.centre_password), ca_file=cluster.ca_file,
                ),
                postgres=PostgresSection(dsn=SecretStr(pg.dsn())),
                silence=SilenceSection(silent_after_s=180, tick_s=1),
            )  # fmt: skip
            asyncio.run(_play(config, cluster, started))
        click.echo("Demo over; the servers are stopped and their folder removed.")


async def _play(config: CentreConfig, cluster: NatsCluster, started: float) -> None:
    async def users(hashes: dict[str, str]) -> None:
        await asyncio.to_thread(cluster.set_hubs, hashes)

    async with open_centre(config, users=users) as centre:
        hubs = await _register(centre, cluster)
        _say(started, f"{len(hubs)} homes registered; each hub is its own NATS user")
        running = asyncio.create_task(centre.run(), name="centre")
        try:
            await _pendant_press(centre, hubs[0], started)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            for hub in hubs:
                await hub.__aexit__(None, None, None)


async def _register(centre: Centre, cluster: NatsCluster) -> list[SimulatedHub]:
    hubs: list[SimulatedHub] = []
    for home_id, name in HOMES:
        alice = ContactRow(home_id=home_id, name="Alice", phone="+447700900123")
        credentials = await centre.registry.add_home(
            home_id, name, contacts=(alice,), escalation={"emergency": DEMO_ESCALATION_S}
        )
        hub = SimulatedHub(
            credentials.hub_id, bytes.fromhex(credentials.key_hex), credentials.nats_password,
            cluster.servers, cluster.ca_file,
        )  # fmt: skip
        await hub.__aenter__()
        pendant = DeviceSummary(id="pendant", name="Pendant", role="pendant", battery=90)
        await hub.heartbeat(devices=[pendant])
        hubs.append(hub)
    async with centre.pool.acquire() as conn:
        await homes.add_operator(conn, "sam", "Sam", "operator", "not-a-login")
    return hubs


async def _pendant_press(centre: Centre, hub: SimulatedHub, started: float) -> None:
    pressed = datetime.now(UTC)
    await hub.incident("demo-press", "firing", opened_at=pressed)
    _say(started, f"{hub.hub_id}: pendant pressed; the family is being called and does not answer")
    _say(started, f"(this home's escalation: emergency after {DEMO_ESCALATION_S} s)")
    alarm = await _wait_for_alarm(centre)
    waited = (alarm.raised_at - pressed).total_seconds()
    _say(started, f"in the operators' queue after {waited:.1f} s: alarm {alarm.id}, {alarm.why}")
    row = await centre.downlink.accept(alarm.id, "sam", "calling the flat now")
    _say(started, f"Sam accepts alarm {alarm.id} (action {row.action_id[:8]})")
    action = await _poll("the signed action reaching the hub", STEP_TIMEOUT_S, lambda: _first(hub))
    _say(started, f"{hub.hub_id} receives the signed action: {action.action} by {action.operator}")
    await hub.applied(action, "family told: Sam at the monitoring centre has it")
    await hub.incident(
        "demo-press", "acknowledged", opened_at=pressed,
        accepted_by="Sam at the monitoring centre",
    )  # fmt: skip

    async def applied() -> str | None:
        async with centre.pool.acquire() as conn:
            detail: str | None = await conn.fetchval(
                "SELECT applied_detail FROM operator_actions WHERE action_id = $1", row.action_id
            )
        return detail

    detail = await _poll("the hub's report reaching the centre", STEP_TIMEOUT_S, applied)
    _say(started, f"the hub reports it applied: {detail}")


async def _first(hub: SimulatedHub) -> OperatorAction | None:
    actions = await hub.actions(timeout_s=1)
    return actions[0] if actions else None


async def _wait_for_alarm(centre: Centre) -> AlarmRow:
    async def queued() -> AlarmRow | None:
        async with centre.pool.acquire() as conn:
            queue = [a for a in await alarms.queue(conn) if a.kind == "incident"]
        return queue[0] if queue else None

    return await _poll("the alarm reaching the queue", DEMO_ESCALATION_S + STEP_TIMEOUT_S, queued)


async def _poll(what: str, timeout_s: float, look: Callable[[], Awaitable[T | None]]) -> T:
    """What `look()` finds, asked again until it finds something.

    Raises:
        click.ClickException: nothing within `timeout_s`; says which step of the demo stalled.
    """
    try:
        async with asyncio.timeout(timeout_s):
            while (found := await look()) is None:  # noqa: ASYNC110 - a database query
                await asyncio.sleep(0.1)
    except TimeoutError:
        msg = f"the demo stopped: {what} did not happen within {timeout_s:.0f} s"
        raise click.ClickException(msg) from None
    return found
