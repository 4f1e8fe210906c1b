"""`telecare test-alert`: an installer's end-to-end check of every way to reach every contact."""

import asyncio
import json
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import click

from hub.cli.options import EXIT_USAGE, fail, load_or_exit
from hub.config.file import HubConfig
from hub.service.notify import open_channels
from notifier.failover import routes_for
from notifier.model import Delivery, OutboxEntry, TransientError
from notifier.ports import Channel
from notifier.retrying import RetryPolicy, with_retries
from notifier.tracking import StatusChannel
from rules.policy import Channel as ChannelName

EXIT_FAILED = 1
TEST_RETRY = RetryPolicy(attempts=3, timeout_s=30, emergency_timeout_s=30, wait_max_s=5)
STATUS_POLL_S = 1.0
CHANNELS: tuple[ChannelName, ...] = (
    "ntfy",
    "pushover",
    "sms",
    "whatsapp",
    "voice",
    "apprise",
    "outbox",
)


@dataclass(frozen=True, slots=True)
class TestResult:
    """What became of the test on one channel to one contact."""

    contact: str
    channel: str
    outcome: str
    detail: str | None


@click.command("test-alert")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("/etc/telecare/hub.toml"),
    envvar="TELECARE_CONFIG",
    show_default=True,
    help="The hub's TOML configuration file (or set TELECARE_CONFIG).",
)
@click.option("--contact", "contacts", multiple=True, help="Only this contact (repeatable).")
@click.option(
    "--channel",
    "channels",
    multiple=True,
    type=click.Choice(CHANNELS),
    help="Only this channel (repeatable).",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=20.0,
    show_default=True,
    help="Seconds to wait for SMS and WhatsApp delivery reports.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def test_alert(
    config_path: Path,
    contacts: tuple[str, ...],
    channels: tuple[ChannelName, ...],
    wait_s: float,
    as_json: bool,
) -> None:
    """Send a clearly marked test to each contact on each channel; report what happened.

    Exits 1 if any test failed, so an install script can check it.
    """
    config = load_or_exit(config_path)
    unknown = sorted(set(contacts) - {c.name for c in config.contacts})
    if unknown:
        fail(f"no such contact: {', '.join(unknown)}", code=EXIT_USAGE)
    results = asyncio.run(run_tests(config, contacts, channels, wait_s=wait_s))
    for result in results:
        if as_json:
            click.echo(json.dumps(asdict(result)))
        else:
            detail = f"  {result.detail}" if result.detail else ""
            click.echo(f"{result.contact:<12} {result.channel:<9} {result.outcome:<10}{detail}")
    if any(r.outcome == "failed" for r in results):
        sys.exit(EXIT_FAILED)


async def run_tests(
    config: HubConfig,
    contacts: Sequence[str],
    channels: Sequence[ChannelName],
    *,
    wait_s: float,
) -> list[TestResult]:
    """Test every chosen (contact, channel) pair at once; results in a stable order."""
    async with AsyncExitStack() as stack:
        opened = open_channels(config, stack, ack_body=None)
        by_name = {c.name: c for c in config.contacts}
        routes = routes_for(by_name, set(opened.channels), set(config.apprise.urls))
        pairs = [
            (name, channel)
            for name in (contacts or list(by_name))
            for channel in (channels or [c for c in routes[name] if c != "outbox"])
        ]
        tests = [
            _test_one(
                opened.channels,
                routes[name],
                contact=name,
                name=channel,
                person=config.home.person,
                wait_s=wait_s,
            )
            for name, channel in pairs
        ]
        return list(await asyncio.gather(*tests))


async def _test_one(
    channels: Mapping[str, Channel],
    usable: Sequence[str],
    *,
    contact: str,
    name: ChannelName,
    person: str,
    wait_s: float,
) -> TestResult:
    channel = channels.get(name)
    if channel is None:
        return TestResult(contact, name, "failed", f"{name} is not configured for this hub")
    if name not in usable:
        return TestResult(contact, name, "failed", f"{contact} has no address for {name}")
    entry = _test_entry(contact, name, person)
    try:
        delivery = await with_retries(TEST_RETRY, "urgent", partial(channel.send, entry))
    except TransientError as err:
        delivery = Delivery("failed", f"gave up after retries: {err.detail}")
    if delivery.state == "sent" and delivery.ref and isinstance(channel, StatusChannel):
        delivery = await _await_delivery(channel, delivery, wait_s)
    detail = delivery.detail if delivery.state == "failed" else delivery.ref
    return TestResult(contact, name, delivery.state, detail)


async def _await_delivery(channel: StatusChannel, sent: Delivery, wait_s: float) -> Delivery:
    assert sent.ref is not None  # checked by the caller
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            verdict = await channel.status(sent.ref)
        except TransientError:
            verdict = None
        if verdict is not None:
            return verdict
        await asyncio.sleep(STATUS_POLL_S)
    return sent


def _test_entry(contact: str, channel: ChannelName, person: str) -> OutboxEntry:
    now = datetime.now(UTC)
    return OutboxEntry(
        id=0,
        key=f"test-alert/{contact}/{channel}/{now.isoformat()}",
        incident_id="test-alert",
        severity="urgent",
        contact=contact,
        channel=channel,
        text=(
            f"TEST from the telecare hub at {person}'s home, {now:%H:%M} UTC."
            " This is only a test: nothing is wrong and nothing needs doing."
        ),
        state="pending",
        created_at=now,
        updated_at=now,
    )
