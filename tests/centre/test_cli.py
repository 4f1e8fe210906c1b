"""`telecare centre`: homes add prints the hub's [centre] block, homes lists, errors name keys."""

import asyncio
import json
import signal
import sys
from pathlib import Path

import httpx
import nats
import nats.errors
from click.testing import CliRunner

from centre.bus import tls_context
from centre.servers.nats import NatsCluster
from centre.servers.process import free_port
from hub.cli import main
from tests.centre.support import centre_toml, until


def test_a_home_added_is_listed_and_its_hub_can_connect(
    tmp_path: Path, nats_cluster: NatsCluster, centre_dsn_sync: str
):
    config = centre_toml(tmp_path, nats_cluster, centre_dsn_sync)
    runner = CliRunner()
    added = runner.invoke(
        main,
        ["centre", "homes", "add", "--config", str(config), "mum", "--name", "Mum's flat",
         "--contact", "Alice:+447700900123:alice-mum", "--escalation", "fall=60"],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "[centre]" in added.output
    assert 'hub_id = "mum"' in added.output
    listed = runner.invoke(main, ["centre", "homes", "--config", str(config), "--json"])
    assert listed.exit_code == 0, listed.output
    [home] = [json.loads(line) for line in listed.output.splitlines()]
    assert (home["id"], home["escalation"], home["last_heartbeat"]) == ("mum", {"fall": 60}, None)
    password = next(
        line.split('"')[1] for line in added.output.splitlines() if line.startswith("password")
    )
    assert asyncio.run(_hub_connects(nats_cluster, "mum", password))
    again = runner.invoke(
        main, ["centre", "homes", "add", "--config", str(config), "mum", "--name", "x"]
    )
    assert again.exit_code != 0
    assert "already registered" in again.output


def test_operators_add_and_a_bad_configuration_names_its_key(
    tmp_path: Path, nats_cluster: NatsCluster, centre_dsn_sync: str
):
    config = centre_toml(tmp_path, nats_cluster, centre_dsn_sync)
    runner = CliRunner()
    done = runner.invoke(
        main, ["centre", "operators", "add", "--config", str(config), "sam", "--name", "Sam",
               "--password", "long enough"],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[nats]\nservers = []\npassword = "x"\nca_file = "ca.pem"\n')
    refused = runner.invoke(main, ["centre", "homes", "--config", str(bad)])
    assert refused.exit_code != 0
    assert "nats.servers" in refused.output
    assert "postgres: Field required" in refused.output


async def _hub_connects(cluster: NatsCluster, hub_id: str, password: str) -> bool:
    """The hub's user works once the nodes have reloaded the accounts file."""
    async with asyncio.timeout(30):
        while True:
            try:
                client = await nats.connect(
                    servers=cluster.servers, user=hub_id, password=password,
                    tls=tls_context(cluster.ca_file), allow_reconnect=False,
                    max_reconnect_attempts=0,
                )  # fmt: skip
            except nats.errors.Error:
                await asyncio.sleep(0.1)
                continue
            await client.close()
            return True


def test_a_short_operator_password_is_refused(
    tmp_path: Path, nats_cluster: NatsCluster, centre_dsn_sync: str
):
    config = centre_toml(tmp_path, nats_cluster, centre_dsn_sync)
    refused = CliRunner().invoke(
        main, ["centre", "operators", "add", "--config", str(config), "sam", "--name", "Sam",
               "--password", "short"],
    )  # fmt: skip
    assert refused.exit_code != 0
    assert "at least 10 characters" in refused.output


async def test_centre_run_serves_the_operators_console(
    tmp_path: Path, nats_cluster: NatsCluster, centre_dsn_sync: str
):
    config = centre_toml(tmp_path, nats_cluster, centre_dsn_sync)
    port = free_port()
    config.write_text(config.read_text() + f'[console]\nhost = "127.0.0.1"\nport = {port}\n')
    centre = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "centre", "run", "--config", str(config),
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def login_page() -> bool:
                try:
                    page = await client.get("/login")
                except httpx.TransportError:
                    return False
                return page.status_code == 200 and "password" in page.text.lower()

            await until(login_page, "the console answering", timeout_s=60)
    finally:
        centre.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(centre.communicate(), 30)
    assert f"console on port {port}" in err.decode()
