"""The dashboard served by a running hub: real broker, real HTTP, live updates, shutdown."""

import asyncio
import dataclasses
import json
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from hub.config.file import config_from_dict
from hub.mqtt.broker import LocalBroker, free_port
from hub.web.app import WebServer
from hub.web.auth import SESSION_COOKIE
from hub.web.gate import DashboardGate
from hub.web.passcodes import match_login
from tests.support.hubs import config_data, device_client, eventually, running_hub, stored_counts
from tests.support.web import (
    CARER_PASSCODE,
    INSTALLER_PASSCODE,
    Hub,
    form_csrf,
    log_in,
    logins,
)
from wire.schema import command_topic, event_topic


async def _events(stream: httpx.Response) -> AsyncIterator[str]:
    async for line in stream.aiter_lines():
        if line.startswith("event: "):
            yield line.removeprefix("event: ")


async def test_press_reaches_a_live_page_and_is_acknowledged_over_http(
    broker: LocalBroker, tmp_path: Path
) -> None:
    port = free_port()
    config = config_from_dict(config_data(broker, tmp_path, web={"port": port, "logins": logins()}))
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client,
        AsyncExitStack() as outlives_hub,
    ):
        async with running_hub(config), device_client(broker) as device:
            token = await log_in(client, CARER_PASSCODE)
            stream = await outlives_hub.enter_async_context(client.stream("GET", "/api/events"))
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = _events(stream)
            assert await anext(events) == "ready"
            await device.publish(event_topic("pendant-1"), b'{"type": "pendant.pressed"}', qos=1)
            assert await anext(events) == "incident"  # opened and fired at once
            status = (await client.get("/api/status")).json()
            incident = status["open_incidents"][0]["id"]
            ack = await client.post(
                f"/api/incidents/{incident}/ack", headers={"X-CSRF-Token": token}
            )
            assert ack.status_code == 200, ack.text
            health = await client.get("/healthz")
            assert health.json() == {"ok": True, "broker_connected": True, "store_writable": True}
        # The hub stopped while the page listened: its stream ended rather than holding it up.
        rest = [event async for event in events]
        assert "incident" in rest  # the acknowledgement, at least
        with pytest.raises(httpx.ConnectError):
            await client.get("/healthz")


async def test_hub_runs_without_its_dashboard_when_the_port_is_taken(
    broker: LocalBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        config = config_from_dict(config_data(broker, tmp_path, web={"port": port}))
        async with running_hub(config), device_client(broker) as device:
            await device.publish(event_topic("pendant-1"), b'{"type": "pendant.pressed"}', qos=1)

            async def alarm_stored() -> bool:
                return (await stored_counts(tmp_path / "hub.db"))[1] == 1

            await eventually(alarm_stored)
    assert "dashboard not started" in caplog.text


def test_hash_passcode_command_prints_a_hash_that_logs_in(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hub", "web", "hash-passcode"],
        input="975310\n975310\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    hashed = result.stdout.strip()
    assert "975310" not in result.stdout + result.stderr
    login = config_from_dict(
        {
            "contacts": [{"name": "Alice"}],
            "web": {"logins": [{"name": "Alice", "passcode_hash": hashed}]},
        }
    ).web.logins
    assert match_login(login, "975310") == login[0]
    assert match_login(login, "975311") is None
    short = subprocess.run(
        [sys.executable, "-m", "hub", "web", "hash-passcode"],
        input="12\n12\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert short.returncode == 2
    assert "at least 6 characters" in short.stderr


async def test_installer_test_reaches_the_device_over_mqtt(
    broker: LocalBroker, tmp_path: Path
) -> None:
    port = free_port()
    config = config_from_dict(config_data(broker, tmp_path, web={"port": port, "logins": logins()}))
    async with (
        running_hub(config),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client,
        device_client(broker, "pendant-1") as device,
    ):
        await device.subscribe(command_topic("pendant-1"), qos=1)
        token = await log_in(client, INSTALLER_PASSCODE)
        response = await client.post(
            "/api/devices/pendant-1/identify", headers={"X-CSRF-Token": token}
        )
        assert response.status_code == 202
        async with asyncio.timeout(20):
            # The embedded broker may also hand over retained messages it was not asked for.
            async for message in device.messages:
                if message.topic.matches(command_topic("pendant-1")):
                    break
    assert json.loads(message.payload) == {"command": "identify"}  # type: ignore[arg-type]


async def test_a_page_that_goes_away_stops_listening(hub: Hub) -> None:
    async with WebServer(hub.ctx) as server:
        assert server.port
        base = f"http://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, timeout=20) as client:
            await log_in(client, CARER_PASSCODE)
            for _ in range(3):
                async with client.stream("GET", "/api/events") as stream:
                    assert await anext(_events(stream)) == "ready"
                    assert hub.ctx.feed.listeners >= 1  # an earlier page may still be leaving

            async def nobody_listens() -> bool:
                return hub.ctx.feed.listeners == 0

            await eventually(nobody_listens)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


async def test_dashboard_serves_https_with_secure_cookies(hub: Hub, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    settings = hub.ctx.settings.model_copy(update={"certfile": cert, "keyfile": key})
    async with WebServer(dataclasses.replace(hub.ctx, settings=settings)) as server:
        trust = ssl.create_default_context(cafile=str(cert))
        base = f"https://127.0.0.1:{server.port}"
        async with httpx.AsyncClient(base_url=base, verify=trust, timeout=20) as client:
            page = await client.get("/login")
            response = await client.post(
                "/login", data={"passcode": CARER_PASSCODE, "csrf": form_csrf(page.text)}
            )
            cookie = next(
                c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
            )
            assert "Secure" in cookie
            assert (await client.get("/api/status")).status_code == 200
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as plain:
            with pytest.raises(httpx.TransportError):
                await plain.get("/healthz")


@pytest.mark.parametrize("kind", [WebServer, DashboardGate])
async def test_a_bad_certificate_leaves_the_hub_running_without_its_dashboard(
    hub: Hub, tmp_path: Path, caplog: pytest.LogCaptureFixture, kind: type[WebServer]
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    settings = hub.ctx.settings.model_copy(update={"certfile": junk, "keyfile": junk})
    async with kind(dataclasses.replace(hub.ctx, settings=settings)) as server:
        assert server.port is None
    assert "dashboard not started" in caplog.text


async def test_the_listening_socket_sends_small_responses_at_once(hub: Hub) -> None:
    """Without TCP_NODELAY each response waits some 40 ms for a delayed ACK (bench.web)."""
    async with WebServer(hub.ctx) as server:
        uvicorn_server = server._server
        assert uvicorn_server is not None

        async def started() -> bool:
            return uvicorn_server.started

        await eventually(started)
        (listener,) = uvicorn_server.servers[0].sockets
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
