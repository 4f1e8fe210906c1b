"""Workers: take uplink messages from their partitions, check them, write them, acknowledge.

Several worker processes share the work: each reads its share of the partitions
(`centre.partitions`), one task per partition, one message after another, so each hub's
messages are written in the order it sent them. JetStream redelivers a message that is not
acknowledged in time. A message is acknowledged only after its transaction has committed, and
every write is idempotent on (hub, seq), so a redelivery or a hub's resend is written once. A
message that fails the checks (unknown hub, another hub's name, a bad signature, too large,
undecodable) is refused: counted in `rejections` and never delivered again. A message that cannot
be written (the database failing) is given back with the rest of its batch, so nothing written
after it overtakes it; a worker stopped mid-batch gives back what it had not written, to be
delivered again at once.
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
from centre.partitions import UPLINK_PARTITIONS, share, subject_parts
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


def decode(subject: str, data: bytes) -> UplinkEnvelope | Refused:
    """The envelope in `data`, if it is within size, decodes and matches its subject's hub."""
    parts = subject_parts(subject)
    hub, kind = parts if parts is not None else (None, None)
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
    if kind != envelope.body.kind:
        return Refused("malformed", hub, f"a {envelope.body.kind} under {subject}")
    return envelope


class Worker:
    """One worker: reads its partitions in batches, writes each message in its own transaction.

    Attributes:
        counts: Outcomes since start: stored, duplicate, and each refusal reason.
        partitions: The partitions it reads (all of them unless told).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        bus: CentreBus,
        *,
        partitions: tuple[int, ...] = tuple(range(UPLINK_PARTITIONS)),
        batch: int = BATCH,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self._pool = pool
        self._bus = bus
        self._batch = batch
        self._clock = clock
        self._keys: dict[str, bytes] = {}
        self.partitions = partitions
        self.counts: Counter[str] = Counter()

    async def run(self) -> None:
        """Read every one of its partitions until cancelled."""
        async with asyncio.TaskGroup() as group:
            for partition in self.partitions:
                group.create_task(self._read(partition), name=f"centre-partition-{partition}")

    async def _read(self, partition: int) -> None:
        while True:
            stop_if_cancelled()
            try:
                batch = await self._bus.fetch(partition, self._batch, FETCH_WAIT_S)
            except BusError as err:  # a node failing over: the client reconnects by itself
                log.warning("%s; fetching again", err)
                await asyncio.sleep(RETRY_AFTER_S)
                continue
            for index, received in enumerate(batch):
                try:
                    outcome = await self.handle(received)
                except asyncio.CancelledError:
                    await _give_back(batch[index:])
                    raise
                if outcome == "retried":  # what follows it waits for it, in order
                    await _give_back(batch[index + 1 :], RETRY_AFTER_S)
                    break

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


async def _give_back(unwritten: list[Received], delay_s: float = 0) -> None:
    """What was fetched and not written is delivered again after `delay_s`, in its order.

    Left unacknowledged, it would wait out the consumer's ack wait (30 s) first.
    """
    for received in unwritten:
        with contextlib.suppress(BusError):  # unacknowledged, it comes again anyway
            await received.retry(delay_s)


async def run_workers(pool: asyncpg.Pool, buses: list[CentreBus]) -> None:
    """Run one worker per bus connection until cancelled, the partitions shared among them."""
    async with asyncio.TaskGroup() as group:
        for index, bus in enumerate(buses):
            worker = Worker(pool, bus, partitions=share(index, len(buses)))
            group.create_task(worker.run(), name=f"centre-worker-{index}")
