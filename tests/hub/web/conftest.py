"""Fixtures for dashboard tests: the web app over a real store and pipeline, no network."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from hub.config import WebSettings
from hub.feed import IncidentFeed
from hub.intake import Intake
from hub.pipeline import Pipeline
from hub.rejections import RejectLog
from hub.store import NewDevice, Store
from hub.web.app import build_app
from hub.web.context import WebContext
from notifier.channels.outbox import LocalOutbox
from notifier.dispatcher import Dispatcher
from rules.engine import Engine, EngineState
from rules.policy import Contact, DeviceInfo, RulesConfig
from tests.support.web import Hub, logins

NOW = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with Store.open(tmp_path / "hub.db") as store:
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
            pipeline = Pipeline(
                engine=engine,
                state=EngineState(),
                store=store,
                intake=Intake(await store.devices(), RejectLog()),
                dispatcher=dispatcher,
                ack=lambda message: None,
                publish=lambda topic, body, retain: None,
                clock=lambda: NOW,
            )
            rejects, identified, connected = RejectLog(), [], [True]
            ctx = WebContext(
                settings=WebSettings.model_validate({"port": 0, "logins": logins()}),
                store=store,
                control=pipeline,
                feed=IncidentFeed(),
                rejects=rejects,
                broker_connected=lambda: connected[0],
                identify=identified.append,
                person="Mum",
                labels={name: cause.label for name, cause in engine.causes.items()},
                timezone="Europe/London",
                clock=lambda: NOW,
            )
            app = build_app(ctx)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                yield Hub(
                    client, pipeline, store, rejects, identified, connected, dispatcher, ctx, app
                )
