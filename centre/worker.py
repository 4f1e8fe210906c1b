"""Workers: take uplink messages from the shared consumer, check them, write them, acknowledge.

Several worker processes share the durable consumer `centre-workers`; JetStream gives each
message to one of them, and redelivers it if it is not acknowledged in time. A message is
acknowledged only after its transaction has committed, and every write is idempotent on
(hub, seq), so a redelivery or a hub's resend is written once. A message that fails the checks
(unknown hub, another hub's name, a bad signature, too large, undecodable) is refused: counted
in `rejections` and never delivered again. A worker stopped mid-batch gives back what it had not
written, to be delivered again at once.
"""

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from pydantic import ValidationError

from centre.bus import BusError, CentreBus, Received, stop_if_cancelled
from centre.db import intake
from wire.uplink import MAX_ENVELOPE_BYTES, UplinkEnvelope, verified

log = logging.getLogger("telecare.centre.worker")
BATCH = 64
FETCH_WAIT_S = 1.0
RETRY_AFTER_S = 2.0


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Refused:
    """Why an uplink message was refused, and under which hub it came."""

    reason: str
    hub_id: str | None
    detail: str


def subject_hub(subject: str) -> str | None:
    """The hub named by an uplink subject `uplink.<hub>.<kind>`, or None."""
    parts = subject.split(".")
    return parts[1] if len(parts) == 3 and parts[0] == "uplink" else None  # noqa: PLR2004


def decode(subject: str, data: bytes) -> UplinkEnvelope | Refused:
    """The envelope in `data`, if it is within size, decodes and matches its subject's hub."""
    hub = subject_hub(subject)
    if len(data) > MAX_ENVELOPE_BYTES:
        return Refused("malformed", hub, f"{len(data)} bytes, over {MAX_ENVELOPE_BYTES}")
    try:
        envelope = UplinkEnvelope.model_validate_json(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return Refused("malformed", hub, f"{where}: {first['msg']}")
    if envelope.hub_id != hub:
        return Refused("forged", hub, f"envelope of {envelope.hub_id} under {subject}")
    if subject.rsplit(".", 1)[-1] != envelope.body.kind:
        return Refused("malformed", hub, f"a {envelope.body.kind} under {subject}")
    return envelope


class Worker:
    """One worker: fetches in batches, writes each message in its own transaction.

    Attributes:
        counts: Outcomes since start: stored, duplicate, and each refusal reason.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: CentreBus,
        *,
        batch: int = BATCH,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._pool = pool
        self._bus = bus
        self._batch = batch
        self._clock = clock
        self._keys: dict[str, bytes] = {}
        self.counts: Counter[str] = Counter()

    async def run(self) -> None:
        """Fetch and handle messages until cancelled."""
        while True:
            stop_if_cancelled()
            try:
                batch = await self._bus.fetch(self._batch, FETCH_WAIT_S)
            except BusError as err:  # a node failing over: the client reconnects by itself
                log.warning("%s; fetching again", err)
                await asyncio.sleep(RETRY_AFTER_S)
                continue
            for index, received in enumerate(batch):
                try:
                    await self.handle(received)
                except asyncio.CancelledError:
                    await _give_back(batch[index:])
                    raise

    async def handle(self, received: Received) -> str:
        """Check, write and acknowledge one message; what became of it.

        A database failure leaves the message unacknowledged, to be delivered again.
        """
        try:
            outcome = await self._write(received)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as err:
            log.warning(
                "could not write %s (%r); it will be delivered again", received.subject, err
            )
            self.counts["retried"] += 1
            with contextlib.suppress(BusError):  # unacknowledged, it comes again anyway
                await received.retry(RETRY_AFTER_S)
            return "retried"
        self.counts[outcome] += 1
        try:
            await received.ack()
        except BusError as err:
            log.warning("%s; it will come again and be found written", err)
        return outcome

    async def _write(self, received: Received) -> str:
        now = self._clock()
        decoded = decode(received.subject, received.data)
        async with self._pool.acquire() as conn:
            if isinstance(decoded, UplinkEnvelope):
                key = await self._key(conn, decoded.hub_id)
                if key is None:
                    decoded = Refused("unknown_hub", decoded.hub_id, "no home has this hub")
                elif not verified(decoded, key):
                    decoded = Refused("forged", decoded.hub_id, "bad signature")
                else:
                    stored = await intake.store(conn, decoded, decoded.sig, received_at=now)
                    if stored.outcome == "replayed":
                        log.warning("replay refused: %s seq %d", decoded.hub_id, decoded.seq)
                    return stored.outcome
            log.warning("refused %s: %s (%s)", received.subject, decoded.reason, decoded.detail)
            await intake.reject(conn, decoded.hub_id, decoded.reason, at=now)
            return decoded.reason

    async def _key(self, conn: asyncpg.Connection, hub_id: str) -> bytes | None:
        key = self._keys.get(hub_id)
        if key is None:
            key = await intake.hub_key(conn, hub_id)
            if key is not None:
                self._keys[hub_id] = key
        return key


async def _give_back(unwritten: list[Received]) -> None:
    """A worker stopping: what it fetched and did not write goes to another worker at once.

    Left unacknowledged, it would wait out the consumer's ack wait (30 s) first.
    """
    for received in unwritten:
        with contextlib.suppress(BusError):  # unacknowledged, it comes again anyway
            await received.retry(0)


async def run_workers(pool: asyncpg.Pool, buses: list[CentreBus]) -> None:
    """Run one worker per bus connection until cancelled."""
    async with asyncio.TaskGroup() as group:
        for index, bus in enumerate(buses):
            group.create_task(Worker(pool, bus).run(), name=f"centre-worker-{index}")
