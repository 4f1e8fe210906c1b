"""What the console's routes work with: the database, the actions, the feed, the signer."""

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from centre.console import queries
from centre.console.actions import Actions
from centre.console.auth import MAX_FAILURES_OVERALL, MAX_FAILURES_PER_CLIENT, Signer
from centre.console.feed import Feed, Snapshot
from centre.console.settings import ConsoleSettings
from centre.relay import CallRelay, RelayLimiter
from webguard.logins import LoginLimiter


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class ConsoleContext:
    """The console's parts, shared by every request."""

    db: asyncpg.Pool
    settings: ConsoleSettings
    actions: Actions
    feed: Feed
    signer: Signer
    limiter: LoginLimiter
    clock: Callable[[], datetime]
    relay: CallRelay | None
    relay_limiter: RelayLimiter


def console_context(
    db: asyncpg.Pool,
    settings: ConsoleSettings,
    actions: Actions,
    clock: Callable[[], datetime] = utc_now,
    relay: CallRelay | None = None,
) -> ConsoleContext:
    """The console's parts over one database pool.

    Args:
        db: The centre's database pool.
        settings: The `[console]` settings.
        actions: How accept/resolve are carried out (`DownlinkActions` over the centre's).
        clock: Now, timezone-aware.
        relay: Passes key presses on alert calls to hubs (served with `public_url`).
    """

    async def read() -> Snapshot:
        try:
            alarms = await queries.queue(db)
            homes, audit = await queries.stamps(db)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as err:
            raise ConnectionError(str(err)) from err
        return Snapshot(alarms, frozenset(a.home_id for a in alarms), dict(homes), audit)

    key = settings.secret_key
    return ConsoleContext(
        db=db,
        settings=settings,
        actions=actions,
        feed=Feed(read, settings.poll_s),
        signer=Signer(
            key.get_secret_value().encode() if key else secrets.token_bytes(32),
            settings.session_hours * 3600,
        ),
        limiter=LoginLimiter(MAX_FAILURES_PER_CLIENT, MAX_FAILURES_OVERALL),
        clock=clock,
        relay=relay,
        relay_limiter=RelayLimiter(settings.relay_per_minute),
    )
