"""What the stream knows of each hub's heartbeats that the workers have not written yet.

While the workers have a backlog (after the centre itself was down, say), a hub's stored
heartbeat is behind: its newest ones wait in the stream. The timers then judge a hub that looks
silent, or is in the queue as silent, on the newest heartbeat the stream holds from it, checked
and verified as a worker would.
"""

import asyncio
from datetime import datetime, timedelta
from typing import Protocol

import asyncpg

from centre.bus import BusError, Newest
from centre.db import intake
from centre.decisions import HubLiveness, silence_changes
from centre.worker import decode
from wire.uplink import Heartbeat, UplinkEnvelope, verified

READS_AT_ONCE = 32
ALARMED_READS_PER_LIMIT = 3  # a hub in the queue as silent is read again this often per limit


class Uplink(Protocol):
    """What the timers read of the uplink stream (a `CentreBus`)."""

    async def backlog(self) -> int:
        """Messages not yet written by the workers."""
        ...

    async def newest(self, hub_id: str, kind: str) -> Newest | None:
        """A hub's newest message of `kind` in the stream."""
        ...


def heartbeat_at(newest: Newest, key: bytes) -> datetime | None:
    """When a heartbeat in the stream says it was sent; None unless the workers would take it.

    Never later than the stream took it, as for a stored one.
    """
    envelope = decode(newest.subject, newest.data)
    if not isinstance(envelope, UplinkEnvelope) or not isinstance(envelope.body, Heartbeat):
        return None
    if not verified(envelope, key):
        return None
    if newest.taken_at is None:
        return envelope.body.at
    return min(envelope.body.at, newest.taken_at)


class HeardInStream:
    """The newest heartbeat read from the stream, by hub, and when each hub was read.

    A hub that would be raised is read before it is (once per `silent_after_s` at most, as its
    newest heartbeat ages); a hub already in the queue as silent is read again
    `ALARMED_READS_PER_LIMIT` times per `silent_after_s`, so that it leaves the queue when it
    is heard again without waiting for the backlog to be written.

    Each read stands on its own. A cluster busy with a drain refuses some of them (JetStream's
    API answers 503): those hubs are `unread` until a later tick reads them, and are not judged
    meanwhile; the others are, and what was read is kept. Were one refused read to void the
    tick's others, a thousand hubs to read would seldom all be read in one tick of a drain.
    """

    def __init__(self, uplink: Uplink, *, silent_after_s: float) -> None:
        self._uplink = uplink
        self._silent_after_s = silent_after_s
        self._reread = timedelta(seconds=silent_after_s / ALARMED_READS_PER_LIMIT)
        self.heard: dict[str, datetime] = {}
        self.unread: dict[str, BusError] = {}  # hubs the last `read` asked and could not read
        self._read_at: dict[str, datetime] = {}

    def forget(self) -> None:
        """No backlog: every heartbeat the stream took is stored."""
        self.heard.clear()
        self.unread.clear()
        self._read_at.clear()

    async def read(self, conn: asyncpg.Connection, hubs: list[HubLiveness], now: datetime) -> None:
        """Read the newest heartbeat of each hub that is, or would be raised, silent.

        The hubs whose read the cluster refused are in `unread` after it.

        Raises:
            BusError: the cluster answered none of the reads.
        """
        so_far = silence_changes(
            hubs, now=now, silent_after_s=self._silent_after_s, in_stream=self.heard
        )
        back = {change.hub.hub_id for change in so_far if change.change == "clear"}
        ask = [change.hub.hub_id for change in so_far if change.change == "raise"] + [
            hub.hub_id
            for hub in hubs
            if hub.silent_alarm is not None
            and hub.hub_id not in back
            and now - self._read_at.get(hub.hub_id, datetime.min.replace(tzinfo=now.tzinfo))
            >= self._reread
        ]
        keys = await intake.hub_keys(conn, ask)
        self.unread = {}
        for start in range(0, len(ask), READS_AT_ONCE):
            some = ask[start : start + READS_AT_ONCE]
            newest = await asyncio.gather(
                *(self._uplink.newest(h, "heartbeat") for h in some), return_exceptions=True
            )
            for hub_id, found in zip(some, newest, strict=True):
                if isinstance(found, BusError):
                    self.unread[hub_id] = found
                    continue
                if isinstance(found, BaseException):
                    raise found
                self._read_at[hub_id] = now
                key = keys.get(hub_id)  # None: its home was removed meanwhile
                at = None if found is None or key is None else heartbeat_at(found, key)
                if at is not None:
                    self.heard[hub_id] = at
        if ask and len(self.unread) == len(ask):
            raise next(iter(self.unread.values()))
