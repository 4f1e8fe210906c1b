"""The centre's timers: silent hubs, incidents the family did not take, and telling the family.

Each `tick(now)` reads the rows, asks `decisions` what is due at `now`, and carries it out; the
loop only calls it every few seconds with the clock's time, so tests pass `now` themselves.
While the workers have a backlog, or its size cannot be read, hubs are judged on the heartbeats
the stream holds too (`centre/liveness.py`). A hub whose newest heartbeat the cluster would not
read is not judged until it is read; silence is not judged at all while the cluster answers none
of the reads; escalations and the families' messages go on regardless.
"""

import asyncio
import logging
from collections import Counter
from datetime import UTC, datetime

import asyncpg

from centre.bus import BusError, stop_if_cancelled
from centre.db import alarms, homes
from centre.decisions import due_escalations, silence_changes
from centre.family import FamilyMessenger, back_text, silent_text
from centre.liveness import HeardInStream, Uplink

log = logging.getLogger("telecare.centre.timers")
TICK_S = 5.0


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
        self._in_stream = HeardInStream(uplink, silent_after_s=silent_after_s)
        self._blind: BusError | None = None  # why silence cannot be judged, if it cannot
        self._unread_noted = False  # whether some hubs' stream could not be read, as logged

    async def run(self, every_s: float = TICK_S) -> None:
        """Tick every `every_s` seconds until cancelled; a failed tick is logged and retried."""
        while True:
            stop_if_cancelled()
            try:
                await self.tick(datetime.now(UTC))
            except (OSError, asyncpg.PostgresError, BusError) as err:
                log.warning("timers: %r; trying again", err)
            await asyncio.sleep(every_s)

    async def tick(self, now: datetime) -> Counter[str]:
        """Carry out what is due at `now`; counts of what was done."""
        done: Counter[str] = Counter()
        async with self._pool.acquire() as conn:
            done += await self._judge_silence(conn, now)
            for due in due_escalations(await alarms.unescalated(conn), now=now):
                if await alarms.raise_incident(conn, due, now=now) is not None:
                    log.warning("incident %s to the centre: %s", due.incident.incident_id, due.why)
                    done["escalated"] += 1
            done["family_told"] += await self._tell_families(conn, now)
        return done

    async def _judge_silence(self, conn: asyncpg.Connection, now: datetime) -> Counter[str]:
        done: Counter[str] = Counter()
        hubs = await alarms.liveness(conn)
        try:
            # Not known (a consumer's state not read in time, as when the cluster is busy with
            # a drain): judged on the stream as with a backlog; blind only if that fails too.
            if await self._backlog() != 0:
                await self._in_stream.read(conn, hubs, now)
            else:
                self._in_stream.forget()
        except BusError as err:
            if self._blind is None:
                log.warning("silence not judged: %s", err)
            self._blind = err
            return done
        if self._blind is not None:
            log.info("silence judged again")
            self._blind = None
        self._note_unread()
        for change in silence_changes(
            hubs, now=now, silent_after_s=self._silent_after_s, in_stream=self._in_stream.heard
        ):
            if change.hub.hub_id in self._in_stream.unread:
                continue  # its newest heartbeat may wait in the stream: judged once read
            if change.change == "raise":
                if await alarms.raise_silent(conn, change.hub, now=now) is not None:
                    log.warning("hub %s is silent", change.hub.hub_id)
                    done["silent"] += 1
            elif change.hub.silent_alarm is not None:
                await alarms.clear_silent(conn, change.hub.silent_alarm, now=now)
                log.info("hub %s is heard again", change.hub.hub_id)
                done["back"] += 1
        return done

    def _note_unread(self) -> None:
        """Log when some hubs cannot be judged (their stream not read), and when all can again."""
        unread = self._in_stream.unread
        if unread and not self._unread_noted:
            hub_id, err = next(iter(unread.items()))
            log.warning("silence not judged for %d hub(s), %s first: %s", len(unread), hub_id, err)
        elif not unread and self._unread_noted:
            log.info("silence judged for every hub again")
        self._unread_noted = bool(unread)

    async def _backlog(self) -> int | None:
        """The workers' backlog; None if the cluster did not say."""
        try:
            return await self._uplink.backlog()
        except BusError as err:
            log.debug("backlog not known: %s", err)
            return None

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
