"""Helpers for dashboard tests: logins with real argon2 hashes, logging in as a browser would."""

import functools
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from hub.config.sections import WebSettings
from hub.pipeline.feed import IncidentFeed
from hub.pipeline.inbox import Inbox
from hub.pipeline.pipeline import Pipeline
from hub.pipeline.rejections import RejectLog
from hub.store.store import NewDevice, Store
from hub.web.app import build_app
from hub.web.context import WebContext
from hub.web.login_links import make_link
from hub.web.passcodes import hash_passcode
from notifier.channels.outbox import LocalOutbox
from notifier.dispatcher import Dispatcher
from rules.engine import Engine
from rules.policy import Contact, DeviceInfo, RulesConfig
from tests.support.pipeline import bare_pipeline
from wire.schema import InboundMessage, event_topic

CARER_PASSCODE = "246810"
INSTALLER_PASSCODE = "135799"
NOW = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)  # the dashboard fixture's now
_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@functools.cache
def _hashes() -> tuple[str, str]:
    return hash_passcode(CARER_PASSCODE), hash_passcode(INSTALLER_PASSCODE)


def logins() -> list[dict[str, Any]]:
    """`[[web.logins]]`: Alice the carer and Ian the installer."""
    carer, installer = _hashes()
    return [
        {"name": "Alice", "role": "carer", "passcode_hash": carer},
        {"name": "Ian", "role": "installer", "passcode_hash": installer},
    ]


def form_csrf(html: str) -> str:
    """The CSRF token a page's form carries."""
    found = _CSRF_FIELD.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, passcode: str) -> str:
    """Log in through the form; returns the session's CSRF token for API calls."""
    page = await client.get("/login")
    response = await client.post(
        "/login", data={"passcode": passcode, "csrf": form_csrf(page.text)}
    )
    assert response.status_code == 303, response.text
    session = await client.get("/api/session")
    token: str = session.json()["csrf_token"]
    return token


async def login_link(hub: "Hub", contact: str = "Alice", *, made_at: datetime = NOW) -> str:
    """A one-time login link for `contact`, as the path a phone would open."""
    url = await make_link(
        hub.store, contact, lifetime=timedelta(hours=24), now=made_at, base="http://hub/"
    )
    return url.removeprefix("http://hub")


async def use_login_link(hub: "Hub", path: str) -> tuple[int, str]:
    """Open a login link's page and press its button: the answer's status and text."""
    page = await hub.client.get(path)
    token = path.rsplit("/", 1)[1]
    response = await hub.client.post(
        "/login/link", data={"token": token, "csrf": form_csrf(page.text)}
    )
    return response.status_code, response.text


@dataclass
class Hub:
    """The parts behind the API, and what the test can observe of them."""

    client: httpx.AsyncClient
    pipeline: Pipeline
    store: Store
    rejects: RejectLog
    identified: list[str]
    connected: list[bool]
    dispatcher: Dispatcher
    ctx: WebContext
    app: Any

    async def press(self, mid: int = 1) -> str:
        """A pendant press through the real pipeline; returns the incident id."""
        body = json.dumps({"type": "pendant.pressed"}).encode()
        await self.pipeline.handle([InboundMessage(event_topic("pendant-1"), body, 1, mid)])
        return next(iter(self.pipeline.state.open.values())).id


@asynccontextmanager
async def open_hub(workdir: Path) -> AsyncIterator[Hub]:
    """The web app over a real store and pipeline in `workdir`, with a client bound to it."""
    async with Store.open(workdir / "hub.db") as store:
        await store.register_devices(
            [
                NewDevice(
                    "pendant-1", "pendant", "pendant", "Bedroom", "native", None, None, "config"
                )
            ],
            at=NOW,
        )
        async with Dispatcher(store, {"outbox": LocalOutbox()}) as dispatcher:
            pendant = DeviceInfo(name="pendant", role="pendant", room="Bedroom")
            engine = Engine(
                RulesConfig(contacts=(Contact(name="Alice"),), devices={"pendant-1": pendant})
            )
            pipeline = await bare_pipeline(engine, store, dispatcher, lambda: NOW)
            rejects, identified, connected = RejectLog(), list[str](), [True]
            ctx = WebContext(
                settings=WebSettings.model_validate({"port": 0, "logins": logins()}),
                store=store,
                control=pipeline,
                feed=IncidentFeed(),
                rejects=rejects,
                inbox=Inbox(),
                broker_connected=lambda: connected[0],
                identify=identified.append,
                person="Mum",
                labels={name: cause.label for name, cause in engine.causes.items()},
                timezone="Europe/London",
                clock=lambda: NOW,
                stages=pipeline.stages,
            )
            app = build_app(ctx)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                yield Hub(
                    client, pipeline, store, rejects, identified, connected, dispatcher, ctx, app
                )
