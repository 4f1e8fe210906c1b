"""What bench/centre.py checks in PostgreSQL: every confirmed message written once, in order.

The simulated hubs' confirmed sends are the ground truth (`Sent`); the centre's rows are read
back from `uplink_messages`, whose `received_at` is the worker's clock as it wrote the row.
"""

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

import asyncpg

POLL_S = 0.5
MIN_ROWS_S = 100.0  # a wait gives up only when the centre wrote slower than this
WAIT_FLOOR_S = 60.0  # and never sooner than this (start-up, a failover)


@dataclass(frozen=True, slots=True)
class Sent:
    """One message a hub sent and the stream confirmed."""

    hub_id: str
    seq: int
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class Written:
    """How a wait for a set of messages ended.

    Attributes:
        expected: Messages waited for.
        missing: Of those, not written when the wait ended (0: all written).
        first_s: Seconds until the first of them was written (None: none was).
        done_s: Seconds until the last was written, or until the wait gave up.
        timeout_s: How long the wait was allowed.
    """

    expected: int
    missing: int
    first_s: float | None
    done_s: float
    timeout_s: float

    @property
    def rows_s(self) -> float:
        """Rows a second between the first and the last written."""
        span = self.done_s - (self.first_s or 0.0)
        return (self.expected - self.missing) / span if span > 0 else 0.0

    def failure(self, what: str) -> str | None:
        """A line saying the wait did not finish, with its counts; None if it did."""
        if not self.missing:
            return None
        return (
            f"{what} NOT finished: {self.expected - self.missing} of {self.expected} written, "
            f"{self.missing} missing after {self.done_s:.0f} s (timeout {self.timeout_s:.0f} s: "
            f"{WAIT_FLOOR_S:.0f} s + one second per {MIN_ROWS_S:.0f} messages)"
        )


def wait_timeout_s(messages: int) -> float:
    """How long to wait for `messages` to be written: scaled to how many there are."""
    return WAIT_FLOOR_S + messages / MIN_ROWS_S


async def _in_window(pool: asyncpg.Pool, sent: list[Sent]) -> int:
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM uplink_messages WHERE sent_at BETWEEN $1 AND $2",
                min(s.sent_at for s in sent),
                max(s.sent_at for s in sent),
            )
        )


async def unwritten(pool: asyncpg.Pool, sent: list[Sent]) -> int:
    """How many of `sent` have no row (hub, seq) in uplink_messages."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT hub_id, seq FROM uplink_messages WHERE sent_at BETWEEN $1 AND $2",
            min(s.sent_at for s in sent),
            max(s.sent_at for s in sent),
        )
    stored = {(r["hub_id"], r["seq"]) for r in rows}
    return sum((s.hub_id, s.seq) not in stored for s in sent)


async def wait_written(pool: asyncpg.Pool, sent: list[Sent]) -> Written:
    """Wait until every message in `sent` is written, or the scaled timeout has passed."""
    timeout_s = wait_timeout_s(len(sent))
    started = time.monotonic()
    first_s: float | None = None
    missing = len(sent)
    while missing and time.monotonic() - started < timeout_s:
        in_window = await _in_window(pool, sent)
        if first_s is None and in_window:
            first_s = time.monotonic() - started
        if in_window >= len(sent):  # unconfirmed sends the stream took may fill the window
            missing = await unwritten(pool, sent)
        if missing:
            await asyncio.sleep(POLL_S)
    if missing:
        missing = await unwritten(pool, sent)
    return Written(len(sent), missing, first_s, time.monotonic() - started, timeout_s)


async def duplicated(pool: asyncpg.Pool) -> int:
    """Rows that repeat a (hub, seq) already written (the primary key keeps this at 0)."""
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(*) - count(DISTINCT (hub_id, seq)) FROM uplink_messages"
            )
        )


@dataclass(frozen=True, slots=True)
class Order:
    """Whether each hub's rows were written in its sequence order.

    Attributes:
        hubs: Hubs with at least one pair out of order.
        pairs: Pairs of a hub's consecutive rows where the higher seq was written first.
        example: One such pair, in words ("" if none).
    """

    hubs: int
    pairs: int
    example: str


async def out_of_order(pool: asyncpg.Pool, since: datetime) -> Order:
    """Each hub's rows written since `since`, by seq: was each written after the one before?"""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT * FROM (SELECT hub_id, seq, kind, received_at,"
            "  lag(seq) OVER w AS seq_before, lag(kind) OVER w AS kind_before,"
            "  lag(received_at) OVER w AS before"
            " FROM uplink_messages WHERE received_at >= $1"
            " WINDOW w AS (PARTITION BY hub_id ORDER BY seq)) AS written"
            " WHERE received_at < before ORDER BY hub_id, seq",
            since,
        )
    example = ""
    if rows:
        r = rows[0]
        early = (r["before"] - r["received_at"]).total_seconds()
        example = (
            f"{r['hub_id']} {r['kind']} seq {r['seq']} written {early:.3f} s before "
            f"{r['kind_before']} seq {r['seq_before']}"
        )
    return Order(len({r["hub_id"] for r in rows}), len(rows), example)


async def stale_hubs(pool: asyncpg.Pool) -> int:
    """Hubs whose stored heartbeat or incident is not the newest of its messages written.

    Whatever order rows were written in (two centres at once may overtake each other), what the
    centre shows of a hub must be its newest message.
    """
    async with pool.acquire() as conn:
        return int(
            await conn.fetchval(
                "SELECT count(DISTINCT hub_id) FROM ("
                " SELECT h.id AS hub_id FROM hubs h WHERE h.heartbeat_seq <> COALESCE(("
                "  SELECT max(u.seq) FROM uplink_messages u"
                "  WHERE u.hub_id = h.id AND u.kind = 'heartbeat'), 0)"
                " UNION ALL"
                " SELECT i.hub_id FROM incidents i WHERE i.seq <> ("
                "  SELECT max(u.seq) FROM uplink_messages u WHERE u.hub_id = i.hub_id"
                "  AND u.kind = 'incident' AND u.body->>'incident_id' = i.id)"
                ") AS stale"
            )
        )


@dataclass(frozen=True, slots=True)
class Silence:
    """A "hub silent" alarm against the hub's last stored heartbeat."""

    last_heartbeat: datetime
    raised_at: datetime
    why: str

    @property
    def after_s(self) -> float:
        """Seconds from the last heartbeat the centre stored to the alarm."""
        return (self.raised_at - self.last_heartbeat).total_seconds()


async def silent_alarms(pool: asyncpg.Pool, since: datetime) -> dict[str, Silence]:
    """Each hub's first "hub silent" alarm raised since `since`, by hub."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT DISTINCT ON (a.hub_id) a.hub_id, a.raised_at, a.why, h.last_heartbeat"
            " FROM alarms a JOIN hubs h ON h.id = a.hub_id"
            " WHERE a.kind = 'hub_silent' AND a.raised_at >= $1"
            " ORDER BY a.hub_id, a.raised_at",
            since,
        )
    return {r["hub_id"]: Silence(r["last_heartbeat"], r["raised_at"], r["why"]) for r in rows}


@dataclass(frozen=True, slots=True)
class Cleared:
    """The "hub silent" alarms raised before an instant, and what became of them after it.

    Attributes:
        raised: How many there were.
        still_open: Of those, not cleared yet.
        last_cleared_s: Seconds from the instant to the last of them cleared (None: none was).
    """

    raised: int
    still_open: int
    last_cleared_s: float | None


async def cleared_since(pool: asyncpg.Pool, instant: datetime) -> Cleared:
    """What became, after `instant`, of the "hub silent" alarms raised before it."""
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT count(*) AS raised, count(*) FILTER (WHERE cleared_at IS NULL) AS open,"
            " max(cleared_at) FILTER (WHERE cleared_at >= $1) AS last"
            " FROM alarms WHERE kind = 'hub_silent' AND raised_at < $1",
            instant,
        )
    last = None if row["last"] is None else (row["last"] - instant).total_seconds()
    return Cleared(int(row["raised"]), int(row["open"]), last)
