"""A hub configured to report to the test engine."""

from pathlib import Path
from typing import Any

from hub.config.file import HubConfig
from hub.mqtt.broker import LocalBroker
from tests.support.hubs import in_process_config
from tests.uplink.conftest import HUB_ID, HUB_KEY, HUB_PASSWORD
from tests.uplink.engine import Engine


def centre_section(engine: Engine, **overrides: Any) -> dict[str, Any]:
    """`[centre]` for the hub `HUB_ID` of the test engine."""
    return {
        "servers": [engine.url],
        "hub_id": HUB_ID,
        "password": HUB_PASSWORD,
        "key": HUB_KEY,
        "ca_file": str(engine.certs.ca),
        "heartbeat_s": 60,
        "ack_timeout_s": 2,
        **overrides,
    }


def reporting_hub(
    broker: LocalBroker, workdir: Path, engine: Engine, **overrides: Any
) -> HubConfig:
    """A hub of the usual small home that reports to `engine`."""
    centre = centre_section(engine, **overrides.pop("centre", {}))
    return in_process_config(broker, workdir, centre=centre, **overrides)
