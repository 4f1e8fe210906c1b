"""The Apprise channel, posting through Apprise's json:// service to a local endpoint."""

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from notifier.channels.apprise import AppriseChannel
from notifier.model import TransientError
from notifier.settings import AppriseSettings
from tests.notifier.entries import entry


class JsonEndpoint:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(json.loads(await request.text()))
        return web.Response(status=self.status)


@pytest.fixture
async def endpoint() -> AsyncIterator[JsonEndpoint]:
    found = JsonEndpoint()
    app = web.Application()
    app.router.add_post("/notify", found.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.port = runner.addresses[0][1]
    yield found
    await runner.cleanup()


def channel(*urls: str) -> AppriseChannel:
    return AppriseChannel(AppriseSettings.model_validate({"urls": {"Alice": list(urls)}}))


async def test_every_url_of_the_contact_gets_the_alert(endpoint: JsonEndpoint) -> None:
    delivery = await channel(f"json://127.0.0.1:{endpoint.port}/notify").send(
        entry(channel="apprise")
    )

    [received] = endpoint.received
    assert received["message"].startswith("Mum pressed her pendant")
    assert received["title"].startswith("EMERGENCY")
    assert delivery.state == "sent"


async def test_a_service_that_refuses_is_retried(endpoint: JsonEndpoint) -> None:
    endpoint.status = 500

    with pytest.raises(TransientError):
        await channel(f"json://127.0.0.1:{endpoint.port}/notify").send(entry(channel="apprise"))


async def test_a_contact_without_urls_fails_permanently() -> None:
    delivery = await channel("json://127.0.0.1/x").send(entry(channel="apprise", contact="Ben"))

    assert delivery.state == "failed"


def test_urls_apprise_does_not_understand_are_named() -> None:
    assert channel("json://127.0.0.1/x", "nonsense").invalid_urls() == ["apprise.urls.Alice[1]"]
