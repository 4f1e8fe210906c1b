"""A Zigbee2MQTT stand-in on the real broker: bridge topics, permit_join answers, device states.

It behaves as Zigbee2MQTT 2.x does (sources: Koenkk/zigbee2mqtt `lib/extension/bridge.ts` and
`test/extensions/bridge.test.ts`): a retained `bridge/state` and `bridge/devices`, a response on
`bridge/response/permit_join` carrying the request's `transaction`, and, while the window is
open, a device that joins: `device_joined`, `device_interview` started, then successful.
"""

import asyncio
import contextlib
import json
from types import TracebackType
from typing import Any, Self

import aiomqtt

from hub.mqtt.broker import LocalBroker

# TS0215A_sos as Zigbee2MQTT reports its interview (https://github.com/Koenkk/zigbee2mqtt/issues/7184).
TS0215A_SOS_DEFINITION = {
    "description": "SOS button",
    "exposes": [
        {"access": 1, "name": "battery", "property": "battery", "type": "numeric", "unit": "%"},
        {"access": 1, "name": "action", "property": "action", "type": "enum",
         "values": ["emergency"]},
        {"access": 1, "name": "linkquality", "property": "linkquality", "type": "numeric"},
    ],
    "model": "TS0215A_sos",
    "options": [],
    "supports_ota": False,
    "vendor": "TuYa",
}  # fmt: skip


class Zigbee2MqttStandIn:
    """Publishes what Zigbee2MQTT would, and records the requests it was sent.

    Args:
        broker: The broker to talk to.
        base: The base topic.
        joining: The device that joins when a window opens (friendly name, ieee, definition);
            None for a network where nothing joins.
        version: The release it claims in `bridge/info`; a 1.x one wants the old
            `{"value": bool, "time": N}` request and refuses the 2.x form.
    """

    def __init__(
        self,
        broker: LocalBroker,
        *,
        base: str = "zigbee2mqtt",
        joining: tuple[str, str, dict[str, Any]] | None = None,
        version: str = "2.6.0",
    ) -> None:
        self.base = base
        self.version = version
        self.joining = joining
        self.requests: list[dict[str, Any]] = []
        self.listed: list[dict[str, Any]] = []
        self._client = aiomqtt.Client(broker.host, broker.port, identifier="z2m-standin")
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        await self._client.__aenter__()
        await self._client.subscribe(f"{self.base}/bridge/request/#", qos=1)
        await self._publish("bridge/state", {"state": "online"}, retain=True)
        info = {"version": self.version, "permit_join": False}
        await self._publish("bridge/info", info, retain=True)
        await self._publish("bridge/devices", self.listed, retain=True)
        self._task = asyncio.create_task(self._answer())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.__aexit__(exc_type, exc, tb)

    async def publish_devices(self) -> None:
        """Publish `listed` as the retained `bridge/devices`."""
        await self._publish("bridge/devices", self.listed, retain=True)

    async def publish_state(self, friendly_name: str, state: dict[str, Any]) -> None:
        """A device's state message, as Zigbee2MQTT publishes it."""
        await self._publish(friendly_name, state)

    async def _publish(self, sub: str, payload: Any, *, retain: bool = False) -> None:
        await self._client.publish(f"{self.base}/{sub}", json.dumps(payload), qos=1, retain=retain)

    async def _answer(self) -> None:
        async for message in self._client.messages:
            if not str(message.topic).endswith("/permit_join"):
                continue
            assert isinstance(message.payload, bytes)
            request = json.loads(message.payload)
            self.requests.append(request)
            legacy = self.version.startswith("1.")
            if not isinstance(request.get("time"), int) or (legacy and "value" not in request):
                refusal = {"data": {}, "status": "error", "error": "Invalid payload"}
                await self._respond(refusal, request)
                continue
            await self._respond({"data": {"time": request["time"]}, "status": "ok"}, request)
            if request["time"] > 0 and self.joining is not None:
                await self._join(*self.joining)

    async def _respond(self, body: dict[str, Any], request: dict[str, Any]) -> None:
        if "transaction" in request:  # echoed, as utils.getResponse does, errors included
            body = {**body, "transaction": request["transaction"]}
        await self._publish("bridge/response/permit_join", body)

    async def _join(self, name: str, ieee: str, definition: dict[str, Any]) -> None:
        ids = {"friendly_name": name, "ieee_address": ieee}
        await self._publish("bridge/event", {"data": ids, "type": "device_joined"})
        started = {**ids, "status": "started"}
        await self._publish("bridge/event", {"data": started, "type": "device_interview"})
        self.listed.append(
            {**ids, "type": "EndDevice", "power_source": "Battery", "supported": True,
             "interview_completed": True, "definition": definition}
        )  # fmt: skip
        await self._publish("bridge/devices", self.listed, retain=True)
        done = {**ids, "status": "successful", "supported": True, "definition": definition}
        await self._publish("bridge/event", {"data": done, "type": "device_interview"})
        self.joining = None  # one device per window
