"""The service loads a channel's SDK only when that channel is configured, and nothing test-only.

Each check runs in a fresh interpreter: this one has imported everything already.
"""

import json
import subprocess
import sys

HEAVY = (
    "twilio",
    "apprise",
    "gpiozero",
    "jinja2",
    "argon2",
    "fastapi",
    "uvicorn",
    "amqtt",
    "firmware_sim",
)
TEST_ONLY = ("pytest", "hypothesis", "playwright", "aiohttp.web", "httpx", "tests")
NEVER = ("rich", "pygments")  # terminal colouring, pulled in by httpx

BUILD_CHANNELS = """
import asyncio, contextlib, json, sys
import hub.cli, hub.service.app
from hub.config.file import config_from_dict
from hub.service.notify import open_channels

config = config_from_dict(json.loads(sys.argv[1]))

async def build():
    async with contextlib.AsyncExitStack() as stack:
        return sorted(open_channels(config, stack, ack_body=None).channels)

channels = asyncio.run(build())
print(json.dumps({"channels": channels, "modules": sorted(sys.modules)}))
"""


def _loaded(config: dict[str, object]) -> tuple[list[str], set[str]]:
    found = subprocess.run(
        [sys.executable, "-c", BUILD_CHANNELS, json.dumps(config)],
        capture_output=True,
        check=True,
        text=True,
        timeout=60,
    )
    result = json.loads(found.stdout)
    return result["channels"], {m.split(".")[0] for m in result["modules"]} | set(result["modules"])


def test_a_hub_with_push_only_loads_no_other_sdk() -> None:
    config = {
        "contacts": [{"name": "Alice", "ntfy_topic": "alice-phone"}],
        "ntfy": {"server": "http://127.0.0.1:9"},
    }
    channels, modules = _loaded(config)
    assert channels == ["ntfy", "outbox"]
    assert [m for m in (*HEAVY, *TEST_ONLY, *NEVER) if m in modules] == []


def test_configured_channels_load_their_sdks() -> None:
    config = {
        "contacts": [{"name": "Alice", "phone": "+447700900123"}],
        "twilio": {
            "account_sid": "AC" + "0" * 32,
            "auth_token": "token",
            "from_number": "+447700900999",
        },
        "apprise": {"urls": {"Alice": ["json://127.0.0.1:9/hook"]}},
    }
    channels, modules = _loaded(config)
    assert channels == ["apprise", "outbox", "sms", "voice", "whatsapp"]
    assert {"twilio", "apprise"} <= modules
