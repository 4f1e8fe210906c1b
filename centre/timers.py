"""The centre's timers: silent hubs, incidents the family did not take, and telling the family.

Each `tick(now)` reads the rows, asks `decisions` what is due at `now`, and carries it out; the
loop only calls it every few seconds with the clock's time, so tests pass `now` themselves.
While the workers have a backlog, a hub that looks silent on its stored heartbeat is judged on
the newest heartbeat the stream holds from it instead (read once per `silent_after_s` at most).
"""

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Protocol

import asyncpg

from centre.bus import BusError, Newest
from centre.db import alarms, homes, intake
from centre.decisions import HubLiveness, due_escalations, silence_changes
from centre.family import FamilyMessenger, back_text, silent_text
from centre.worker import decode
from wire.uplink import Heartbeat, UplinkEnvelope, verified

log = logging.getLogger("telecare.centre.timers")
TICK_S = 5.0
STREAM_READS_AT_ONCE = 32


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


class Timers:
    """Raises and clears alarms on time, and tells families about silent hubs."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        uplink: Uplink,
        family: FamilyMessenger,
        *,
        silent_after_s: float,
    ) -> None:
        self._pool = pool
        self._uplink = uplink
        self._family = family
        self._silent_after_s = silent_after_s
        self._in_stream: dict[str, datetime] = {}  # newest heartbeats read from the stream

    async def run(self, every_s: float = TICK_S) -> None:
        """Tick every `every_s` seconds until cancelled; a failed tick is logged and retried."""
        while True:
            try:
                await self.tick(datetime.now(UTC))
            except (OSError, asyncpg.PostgresError, BusError) as err:
                log.warning("timers: %r; trying again", err)
            await asyncio.sleep(every_s)

    async def tick(self, now: datetime) -> Counter[str]:
        """Carry out what is due at `now`; counts of what was done."""
        done: Counter[str] = Counter()
        backlog = await self._uplink.backlog()
        async with self._pool.acquire() as conn:
            hubs = await alarms.liveness(conn)
            if backlog:
                await self._read_stream(conn, hubs, now)
            else:  # every heartbeat the stream took is stored
                self._in_stream.clear()
            for change in silence_changes(
                hubs, now=now, silent_after_s=self._silent_after_s, in_stream=self._in_stream
            ):
                if change.change == "raise":
                    if await alarms.raise_silent(conn, change.hub, now=now) is not None:
                        log.warning("hub %s is silent", change.hub.hub_id)
                        done["silent"] += 1
                elif change.hub.silent_alarm is not None:
                    await alarms.clear_silent(conn, change.hub.silent_alarm, now=now)
                    log.info("hub %s is heard again", change.hub.hub_id)
                    done["back"] += 1
            for due in due_escalations(await alarms.unescalated(conn), now=now):
                if await alarms.raise_incident(conn, due, now=now) is not None:
                    log.warning("incident %s to the centre: %s", due.incident.incident_id, due.why)
                    done["escalated"] += 1
            done["family_told"] += await self._tell_families(conn, now)
        return done

    async def _read_stream(
        self, conn: asyncpg.Connection, hubs: list[HubLiveness], now: datetime
    ) -> None:
        """The newest heartbeat in the stream of each hub that would be raised so far."""
        so_far = silence_changes(
            hubs, now=now, silent_after_s=self._silent_after_s, in_stream=self._in_stream
        )
        ask = [change.hub.hub_id for change in so_far if change.change == "raise"]
        keys = await intake.hub_keys(conn, ask)
        for start in range(0, len(ask), STREAM_READS_AT_ONCE):
            some = ask[start : start + STREAM_READS_AT_ONCE]
            newest = await asyncio.gather(*(self._uplink.newest(h, "heartbeat") for h in some))
            for hub_id, found in zip(some, newest, strict=True):
                key = keys.get(hub_id)  # None: its home was removed meanwhile
                at = None if found is None or key is None else heartbeat_at(found, key)
                if at is not None:
                    self._in_stream[hub_id] = at

    async def _tell_families(self, conn: asyncpg.Connection, now: datetime) -> int:
        told = 0
        for alarm, news in await alarms.family_news(conn):
            home = await homes.home(conn, alarm.home_id)
            if home is None:
                continue
            text = (
                back_text(home.name)
                if news == "back"
                else silent_text(home.name, home.silent_since)
            )
            contacts = await homes.contacts(conn, alarm.home_id)
            outcomes = await self._family.tell(alarm, contacts, text, now=now)
            failed = [o.detail for o in outcomes if o.state == "failed"]
            if failed:
                log.warning(
                    "family of %s not all told: %s", alarm.home_id, "; ".join(map(str, failed))
                )
            await alarms.family_told(conn, alarm.id, news, now=now)
            told += len(outcomes) - len(failed)
        return told
