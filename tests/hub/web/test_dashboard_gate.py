"""The dashboard's port is held from the start and the dashboard starts at the first visit.

A bad certificate is reported at start: see test_web_server.py.
"""

import httpx

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
