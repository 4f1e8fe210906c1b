"""The dashboard's port is held from the start and the dashboard starts at the first visit."""

import dataclasses
from pathlib import Path

import httpx
import pytest

from hub.web.gate import DashboardGate
from tests.support.web import Hub


async def test_the_first_visit_starts_the_dashboard_and_is_answered(hub: Hub) -> None:
    async with DashboardGate(hub.ctx) as gate:
        assert gate.port, "the port is bound at start"
        assert gate._server is None, "nothing loaded before anyone visits"
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{gate.port}", timeout=30) as c:
            first = await c.get("/healthz")
            again = await c.get("/healthz")
        assert gate._server is not None
    assert first.status_code == 200
    assert again.json()["ok"] is True


async def test_a_bad_certificate_is_reported_at_start(
    hub: Hub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    settings = hub.ctx.settings.model_copy(update={"certfile": junk, "keyfile": junk})
    async with DashboardGate(dataclasses.replace(hub.ctx, settings=settings)) as gate:
        assert gate.port is None
    assert "dashboard not started" in caplog.text
