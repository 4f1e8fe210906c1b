"""A home of 50 paired devices (native and Zigbee2MQTT) and the messages they send.

Alert-worthy messages are emergencies the carers must hear of at once: a native pendant press,
its cancel ("All OK"), a Zigbee2MQTT smoke alarm and its clearing ("All clear"). Each reaches
Alice by push (ntfy) and Bob by SMS. Everything else is everyday telemetry (movement,
temperatures, heartbeats) that the hub stores and notifies nobody of.
"""

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tests.support.standins import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER
from wire.schema import event_topic

AlertKind = Literal["press", "cancel", "smoke", "smoke_clear"]
ALERT_CYCLE: tuple[AlertKind, ...] = ("press", "cancel", "smoke", "smoke_clear")
ALICE_TOPIC = "alice-phone"
BOB_PHONE = "+447700900456"
CHANNELS_PER_ALERT = 2  # Alice by push and Bob by SMS, both at once
Z2M = "zigbee2mqtt"

# (id prefix, count, role, source, model)
DEVICES = (
    ("pendant", 5, "pendant", "native", None),
    ("motion", 10, "motion", "native", None),
    ("thermo", 10, "temperature", "native", None),
    ("sos", 5, "pendant", "zigbee2mqtt", "TS0215A_sos"),
    ("smoke", 5, "smoke", "zigbee2mqtt", "HS1SA"),
    ("zmotion", 10, "motion", "zigbee2mqtt", "TS0202"),
    ("ztemp", 5, "temperature", "zigbee2mqtt", "WSDCGQ11LM"),
)


def device_ids(prefix: str) -> list[str]:
    count = next(c for p, c, *_ in DEVICES if p == prefix)
    return [f"{prefix}-{n:02d}" for n in range(1, count + 1)]


def config_toml(*, mqtt_port: int, db: Path, web_port: int, ntfy: str, twilio: str) -> str:
    """The hub's configuration: two contacts, both told of every emergency at once."""
    lines = [
        '[home]\nperson = "Mum"\ntimezone = "Europe/London"',
        f'[mqtt]\nport = {mqtt_port}\nclient_id = "bench-hub"',
        f'[store]\npath = "{db}"',
        f"[web]\nport = {web_port}",
        f'[twilio]\naccount_sid = "{ACCOUNT_SID}"\nauth_token = "{AUTH_TOKEN}"',
        f'from_number = "{FROM_NUMBER}"\napi_base = "{twilio}"',
        # Room for every SMS of the run; status polling out of the way (a home sends few).
        "sms_per_hour = 100000\nsms_per_day = 100000\npoll_s = 600",
        f'[ntfy]\nserver = "{ntfy}"',
        f'[[contacts]]\nname = "Alice"\nphone = "+447700900123"\nntfy_topic = "{ALICE_TOPIC}"',
        f'[[contacts]]\nname = "Bob"\nphone = "{BOB_PHONE}"',
        "[escalation.emergency]\nsteps = [",
        '  { contact = "Alice", channel = "ntfy", after_s = 0 },',
        '  { contact = "Bob", channel = "sms", after_s = 0 },\n]',
    ]
    for prefix, _, role, source, model in DEVICES:
        for device_id in device_ids(prefix):
            lines.append(
                f'[[devices]]\nid = "{device_id}"\nname = "{device_id}"\nrole = "{role}"'
                f'\nroom = "room {device_id[-2:]}"\nsource = "{source}"'
            )
            if source == Z2M:
                lines.append(f'friendly_name = "{device_id}"\nmodel = "{model}"')
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Message:
    """One MQTT publish; `alert` says which emergency it should raise, if any."""

    topic: str
    payload: bytes
    alert: AlertKind | None = None


@dataclass
class Household:
    """Generates messages; keeps each device's sequence numbers and states consistent."""

    _seq: Iterator[int] = field(default_factory=itertools.count)
    _alerts: Iterator[AlertKind] = field(default_factory=lambda: itertools.cycle(ALERT_CYCLE))
    _turn: Iterator[int] = field(default_factory=itertools.count)
    _smoke_on: str | None = None

    def alert(self) -> Message:
        kind = next(self._alerts)
        turn = next(self._turn)
        if kind == "smoke":
            self._smoke_on = device_ids("smoke")[turn % 5]
            return self._z2m(self._smoke_on, {"smoke": True, "battery": 95}, alert=kind)
        if kind == "smoke_clear":
            device, self._smoke_on = self._smoke_on, None
            assert device is not None, "the alarm clears after it sounded"
            return self._z2m(device, {"smoke": False, "battery": 95}, alert=kind)
        pendant = device_ids("pendant")[turn % 5]
        event = "pendant.pressed" if kind == "press" else "pendant.cancelled"
        return self._native(pendant, {"type": event}, alert=kind)

    def telemetry(self) -> Message:
        """Everyday news."""
        turn = next(self._turn)
        pick = turn % 5
        if pick == 0:
            return self._native(device_ids("motion")[turn % 10], {"type": "motion.detected"})
        if pick == 1:
            value = 19.5 + turn % 2
            device = device_ids("thermo")[turn % 10]
            return self._native(device, {"type": "temperature.reading", "value": value})
        if pick == 2:  # pendants check in every few minutes: not part of a burst
            device = device_ids("motion")[turn % 10]
            return self._native(device, {"type": "device.heartbeat", "battery": 90})
        if pick == 3:
            state = {"occupancy": turn % 2 == 0, "battery": 100, "linkquality": 80}
            return self._z2m(device_ids("zmotion")[turn % 10], state)
        state = {"temperature": 19.0 + turn % 2, "linkquality": 90}
        return self._z2m(device_ids("ztemp")[turn % 5], state)

    def stream(self, count: int, alert_share: float) -> list[Message]:
        """`count` messages, alerts spread evenly at `alert_share` of them."""
        alerts = round(count * alert_share)
        every = count / alerts if alerts else 0.0
        slots = {int(i * every) for i in range(alerts)}
        return [self.alert() if i in slots else self.telemetry() for i in range(count)]

    def _native(
        self, device: str, body: dict[str, object], alert: AlertKind | None = None
    ) -> Message:
        body = {**body, "seq": next(self._seq)}
        return Message(event_topic(device), json.dumps(body).encode(), alert)

    def _z2m(
        self, device: str, state: dict[str, object], alert: AlertKind | None = None
    ) -> Message:
        return Message(f"{Z2M}/{device}", json.dumps(state).encode(), alert)


def alert_kind(text: str) -> AlertKind | None:
    """Which emergency a notification's text is about; None for anything else."""
    if text.startswith("All OK"):
        return "cancel"
    if text.startswith("FIRE ALARM"):
        return "smoke"
    if text.startswith("All clear: the smoke alarm"):
        return "smoke_clear"
    if " pressed the " in text:
        return "press"
    return None
