"""A hub on a disk of its own, for the storage fault tests: its alerts to Alice by SMS."""

from pathlib import Path

from hub.mqtt.broker import LocalBroker
from tests.support.hubs import HubProcess, config_data, write_toml
from tests.support.standins import TwilioStandIn, twilio_toml

ALICE = "+447700900123"
FAILING_TEXT = "cannot save to its memory card"
BACK_TEXT = "saving its records again"


def fault_hub(broker: LocalBroker, workdir: Path, db: Path, twilio_url: str) -> HubProcess:
    """A hub process whose store is `db`; emergencies and notices go to Alice by SMS."""
    data = config_data(broker, workdir, store={"path": str(db)})
    path = write_toml(workdir / "hub.toml", data)
    path.write_text(
        path.read_text()
        + twilio_toml(twilio_url)
        + """
[escalation.emergency]
steps = [{ contact = "Alice", channel = "sms", after_s = 0 }]

[escalation.urgent]
steps = [{ contact = "Alice", channel = "sms", after_s = 0 }]
"""
    )
    return HubProcess(path, workdir / "hub.log")


def texts_to_alice(twilio: TwilioStandIn) -> list[str]:
    """The texts Alice was sent, in order."""
    return [m["body"] for m in twilio.outbound(to=ALICE)]
