"""`telecare doctor`: what stands between this hub and a working alarm, and how to fix it.

Each check looks at one thing and never sends anything to anyone.
"""

import asyncio
import os
import shutil
import subprocess
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.config.file import HubConfig
from hub.mqtt.oneshot import probe
from hub.store.errors import StoreError
from hub.store.store import Store
from notifier.model import TransientError

MIN_FREE_BYTES = 200 * 1024 * 1024
NEW_STORE_BYTES = 1024 * 1024  # room for a new database's schema and its write-ahead log
_FREE_THE_CARD = (
    "free space: old backups, logs (journalctl --vacuum); a card that turned read-only needs"
    " a check (fsck) and a restart, or replacing"
)
GPIO_CHIP = Path("/dev/gpiochip0")


@dataclass(frozen=True, slots=True)
class Finding:
    """The outcome of one check; `fix` says what to do when it is a problem."""

    check: str
    ok: bool
    detail: str
    fix: str | None = None


Check = Callable[[HubConfig], Finding]


def check_broker(config: HubConfig) -> Finding:
    """The broker is reachable and accepts the hub's credentials."""
    problem = probe(config.mqtt)
    if problem is None:
        return Finding("broker", True, f"{config.mqtt.host}:{config.mqtt.port} accepts the hub")
    return Finding(
        "broker",
        False,
        problem,
        "start Mosquitto (systemctl start mosquitto) and check [mqtt] host, port, username and"
        " TELECARE_MQTT__PASSWORD in /etc/telecare/secrets.env",
    )


def check_store(config: HubConfig) -> Finding:
    """The database opens and passes SQLite's integrity check."""
    path = config.store.path
    if not path.exists():
        problem = _no_room_for(path)
        if problem is not None:
            detail = (
                f"{path} cannot be created: {problem}; a running hub alerts from memory only and"
                " stores nothing"
            )
            return Finding("store", False, detail, _FREE_THE_CARD)
        return Finding("store", True, f"{path} not created yet: the hub creates it at first start")

    async def verdict() -> list[str]:
        async with Store.open(path, readonly=True) as store:
            return await store.integrity()

    try:
        result = asyncio.run(verdict())
    except StoreError as err:
        return Finding(
            "store", False, str(err), "restore the newest backup from the backups folder"
        )
    if result != ["ok"]:
        return Finding(
            "store",
            False,
            f"{path} is damaged: {'; '.join(result[:2])}",
            "stop the hub, move the file aside and restore the newest backup",
        )
    return Finding("store", True, f"{path} passes its integrity check")


def _no_room_for(path: Path) -> str | None:
    """Why a new database could not be created at `path` now, if it could not."""
    folder = _existing(path.parent)
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        return f"{folder} is on a read-only disk"
    if shutil.disk_usage(folder).free < NEW_STORE_BYTES:
        return f"the disk under {folder} is full"
    return None


def _existing(folder: Path) -> Path:
    while not folder.exists():
        folder = folder.parent
    return folder


def check_disk(config: HubConfig) -> Finding:
    """There is room for the database to grow and for backups."""
    folder = _existing(config.store.path.parent)
    free = shutil.disk_usage(folder).free
    detail = f"{free // (1024 * 1024)} MiB free under {folder}"
    if free < MIN_FREE_BYTES:
        return Finding("disk", False, detail, _FREE_THE_CARD)
    return Finding("disk", True, detail)


def check_clock(_config: HubConfig) -> Finding:
    """The clock is synchronised: alert times and schedules depend on it."""
    timedatectl = shutil.which("timedatectl")
    if timedatectl is None:
        return Finding("clock", True, "cannot tell here (no timedatectl); assumed synchronised")
    try:
        answer = subprocess.run(  # noqa: S603  # fixed argv
            [timedatectl, "show", "--property=NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return Finding("clock", True, "cannot tell here (timedatectl did not answer)")
    if answer == "yes":
        return Finding("clock", True, "synchronised by NTP")
    if answer == "no":
        return Finding(
            "clock", False, "not synchronised", "enable time sync: timedatectl set-ntp true"
        )
    return Finding("clock", True, "cannot tell here (no system manager)")


def check_gpio(config: HubConfig, chip: Path = GPIO_CHIP) -> Finding:
    """Wired pull-cords and the hub button can be read, if any are configured."""
    wired = [d.id for d in config.devices if d.source == "gpio"]
    if not wired:
        return Finding("gpio", True, "no wired devices configured")
    if not chip.exists():
        return Finding(
            "gpio", False, f"{', '.join(wired)} configured but {chip} is missing", "run on a Pi"
        )
    if not os.access(chip, os.R_OK | os.W_OK):
        return Finding(
            "gpio", False, f"no access to {chip}", "add the hub's user to the gpio group"
        )
    return Finding("gpio", True, f"{chip} accessible for {', '.join(wired)}")


def check_channels(config: HubConfig) -> Finding:
    """Every escalation step can be carried out, and each provider accepts the hub's credentials.

    Nothing is sent: Twilio is asked for recent replies, the ntfy server for a topic's messages.
    """
    used = sorted({step.channel for plan in config.escalation.values() for step in plan.steps})
    problems = asyncio.run(_channel_problems(config))
    if problems:
        fix = (
            "check [twilio] account_sid and TELECARE_TWILIO__AUTH_TOKEN, [ntfy] server and"
            " TELECARE_NTFY__TOKEN, and each contact's phone or ntfy_topic"
        )
        return Finding("channels", False, "; ".join(problems), fix)
    return Finding("channels", True, f"in use: {', '.join(used) or 'outbox'}; providers answer")


async def _channel_problems(config: HubConfig) -> list[str]:
    from hub.service.notify import open_channels, unreachable_steps  # noqa: PLC0415  # only when run

    problems: list[str] = []
    async with AsyncExitStack() as stack:
        opened = open_channels(config, stack, ack_body=None)
        problems.extend(unreachable_steps(config, set(opened.channels)))
        if opened.gateway is not None:
            try:
                await opened.gateway.replies(since=datetime.now(UTC) - timedelta(minutes=1))
            except TransientError as err:
                problems.append(f"twilio: {err}")
        topic = _an_ntfy_topic(config)
        if opened.ntfy is not None and topic is not None:
            try:
                await opened.ntfy.reachable(topic)
            except TransientError as err:
                problems.append(str(err))
    return problems


def _an_ntfy_topic(config: HubConfig) -> str | None:
    if config.ntfy is not None and config.ntfy.ack_topic:
        return config.ntfy.ack_topic
    return next((c.ntfy_topic for c in config.contacts if c.ntfy_topic), None)


def check_silenced_phones(config: HubConfig) -> Finding:
    """Per contact, which paths can ring her phone when it is silenced (docs/PHONES.md).

    Once phone channels are configured, a contact with none that can is a problem: an
    emergency could sit unheard in her meeting.
    """
    from hub.config.phones import configured_channels, silenced_paths  # noqa: PLC0415

    configured = configured_channels(config) & {"voice", "sms", "whatsapp", "ntfy", "pushover"}
    lines = silenced_paths(config, configured)
    unheard = [
        c.name
        for c in config.contacts
        if not (c.pushover_user and "pushover" in configured)
        and not (c.phone and "voice" in configured)
    ]
    if unheard and configured:  # with no phone channel yet, alarms stay on the hub's outbox
        names = ", ".join(unheard)
        fix = f"give {names} a Pushover user key or a phone for voice calls (docs/PHONES.md)"
        return Finding("silenced phones", False, " | ".join(lines), fix)
    return Finding("silenced phones", True, " | ".join(lines))


CHECKS: tuple[Check, ...] = (
    check_broker,
    check_store,
    check_disk,
    check_clock,
    check_gpio,
    check_channels,
    check_silenced_phones,
)


def examine(config: HubConfig, checks: tuple[Check, ...] = CHECKS) -> list[Finding]:
    """Run every check; a check that crashes is itself reported as a problem."""
    findings = []
    for check in checks:
        try:
            findings.append(check(config))
        except Exception as err:  # one broken check must not hide the others
            name = check.__name__.removeprefix("check_")
            findings.append(Finding(name, False, f"the check failed: {err}"))
    return findings
