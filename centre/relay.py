"""Key presses on homes' alert calls, relayed to hubs that nothing outside can reach.

A hub behind NAT gives Twilio the console's relay route as the place to post a call's key
press. The console hands each such request here: it is recorded, passed on untouched (URL,
form, Twilio's signature) as a signed `RelayedVoice` on the hub's downlink, and its answer is
waited for, up to a deadline, in PostgreSQL, where the workers write the hub's `ActionApplied`.
The centre never decides an acceptance: only the hub, which checks Twilio's signature with its
own auth token and the call's token it issued, can. A hub that does not answer in time leaves
the caller with `PASSED_ON`, which claims nothing.
"""

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from centre.bus import CentreBus
from centre.db import intake
from wire.uplink import RelayedVoice, signed

PASSED_ON = (
    "Thank you. Your answer is being passed on. Until it arrives, the others are still"
    " being called. Goodbye."
)
POLL_S = 0.1
KEEP = timedelta(days=1)
WINDOW_S = 60.0
OVERALL_FACTOR = 20  # all hubs together: this many hubs' worth per minute


class UnknownHubError(LookupError):
    """No home has this hub."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Answer:
    """What the caller is told, and whether the hub said the press accepted the alarm."""

    say: str
    accepted: bool
    from_hub: bool


@dataclass(slots=True)
class RelayLimiter:
    """Takes at most `per_minute` requests per hub, and `OVERALL_FACTOR` times that in all."""

    per_minute: int
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _overall: deque[float] = field(default_factory=deque)

    def take(self, hub_id: str) -> bool:
        """Whether a request for `hub_id` may be relayed now (counted if so)."""
        now = self.clock()
        cutoff = now - WINDOW_S
        for seen in (*self._seen.values(), self._overall):
            while seen and seen[0] < cutoff:
                seen.popleft()
        self._seen = {k: v for k, v in self._seen.items() if v}
        mine = self._seen.setdefault(hub_id, deque())
        if len(mine) >= self.per_minute or len(self._overall) >= self.per_minute * OVERALL_FACTOR:
            return False
        mine.append(now)
        self._overall.append(now)
        return True


class CallRelay:
    """Passes key presses to hubs over the downlink and waits for their answers."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: CentreBus,
        *,
        wait_s: float,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._pool = pool
        self._bus = bus
        self._wait_s = wait_s
        self._clock = clock

    async def relay(self, hub_id: str, url: str, form: Mapping[str, str], signature: str) -> Answer:
        """Pass one request to `hub_id` and wait for its answer until the deadline.

        Raises:
            UnknownHubError: no home has this hub.
            BusError: the downlink did not take it.
        """
        deadline = time.monotonic() + self._wait_s
        relay_id = uuid.uuid4().hex
        at = self._clock()
        async with self._pool.acquire() as conn:
            key = await intake.hub_key(conn, hub_id)
            if key is None:
                raise UnknownHubError(hub_id)
            await conn.execute("DELETE FROM relay_requests WHERE received_at < $1", at - KEEP)
            # Committed before it is sent: the hub's answer may come back within milliseconds.
            await conn.execute(
                "INSERT INTO relay_requests (relay_id, hub_id, received_at) VALUES ($1, $2, $3)",
                relay_id,
                hub_id,
                at,
            )
        relayed = RelayedVoice(
            relay_id=relay_id,
            hub_id=hub_id,
            url=url,
            form=dict(form),
            twilio_signature=signature,
            at=at,
        )
        await self._bus.publish_relay(signed(relayed, key))
        return await self._answer(relay_id, deadline)

    async def _answer(self, relay_id: str, deadline: float) -> Answer:
        while True:
            async with self._pool.acquire() as conn:
                row = await conn.fetchrow(
                    "SELECT accepted, say FROM relay_requests"
                    " WHERE relay_id = $1 AND answered_at IS NOT NULL",
                    relay_id,
                )
            if row is not None:
                return Answer(say=row["say"], accepted=bool(row["accepted"]), from_hub=True)
            if time.monotonic() >= deadline:
                return Answer(say=PASSED_ON, accepted=False, from_hub=False)
            await asyncio.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
