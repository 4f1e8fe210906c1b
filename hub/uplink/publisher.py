"""The uplink publisher: the outbox's unconfirmed messages to the engine, in order, once each.

Each message is published on `uplink.<hub>.<kind>` with `Nats-Msg-Id: <hub>:<seq>` and counts
as sent only once the stream's acknowledgement says it is stored; then the store's confirmed
mark moves past it. A window of messages is in flight at a time. A message not confirmed (the
engine down, a timeout) is sent again, byte for byte the same (its envelope is made from what
is stored: `sent_at` is when it was queued), and the stream keeps it once (its de-duplication
window), the centre's workers once more (idempotent on hub and sequence).
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from nats.js.api import PubAck
from pydantic import TypeAdapter, ValidationError

from hub.store.uplink import UplinkRow
from wire.uplink import UplinkBody, UplinkEnvelope, message_id, signed, uplink_subject

log = logging.getLogger("telecare.uplink")
WINDOW = 64  # messages in flight at once
BODY: TypeAdapter[UplinkBody] = TypeAdapter(UplinkBody)


class OutboxStore(Protocol):
    """What the publisher reads and marks in the hub's store."""

    async def uplink_pending(self, *, limit: int) -> list[UplinkRow]:
        """The oldest unconfirmed messages, in order."""
        ...

    async def confirm_uplink(self, seq: int, *, at: datetime) -> None:
        """The engine holds everything up to `seq`."""
        ...


class Stream(Protocol):
    """What the publisher uses of a JetStream context (`publish_async`)."""

    async def publish_async(
        self, subject: str, payload: bytes = b"", *, headers: dict[str, str] | None = None
    ) -> "asyncio.Future[PubAck]":
        """Hand a message to the client; the future is the stream's acknowledgement."""
        ...


class LinkDownError(Exception):
    """The engine did not confirm a message; what is unconfirmed goes again later."""


@dataclass
class Counters:
    """What the publisher has done since start (for the log and `/metrics`)."""

    published: int = 0
    confirmed: int = 0
    duplicates: int = 0  # confirmed by the stream as already stored (a resend)
    unsendable: int = 0  # rows that make no valid envelope (skipped, logged)


def envelope(hub_id: str, row: UplinkRow, key: bytes) -> UplinkEnvelope:
    """The signed envelope of a stored message: the same bytes at every send.

    Raises:
        ValidationError: the stored body is not a valid uplink body.
    """
    body = BODY.validate_json(row.body)
    plain = UplinkEnvelope(hub_id=hub_id, seq=row.seq, sent_at=row.created_at, body=body)
    return signed(plain, key)


class Publisher:
    """Sends the outbox in windows; `drain` returns once nothing is left unconfirmed."""

    def __init__(
        self,
        store: OutboxStore,
        *,
        hub_id: str,
        key: bytes,
        ack_timeout_s: float,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._hub_id = hub_id
        self._key = key
        self._ack_timeout_s = ack_timeout_s
        self._clock = clock
        self.counters = Counters()

    async def drain(self, js: Stream) -> int:
        """Send every unconfirmed message, window by window; returns how many were confirmed.

        Raises:
            LinkDownError: a message was not confirmed in time (those before it are marked).
        """
        total = 0
        while rows := await self._store.uplink_pending(limit=WINDOW):
            confirmed = await self._send_window(js, rows)
            total += confirmed
            if confirmed < len(rows):
                raise LinkDownError(f"{len(rows) - confirmed} message(s) not confirmed")
        return total

    async def _send_window(self, js: Stream, rows: Sequence[UplinkRow]) -> int:
        """Publish `rows`, wait for their acknowledgements, mark the confirmed run from the first.

        Returns:
            How many of `rows`, from the first, were confirmed (and so marked).
        """
        futures: list[asyncio.Future[PubAck] | None] = []
        try:
            for row in rows:
                futures.append(await self._publish(js, row))
        except Exception as err:  # any failure to hand it over: link down
            log.debug("publish of seq %d failed: %s", rows[len(futures)].seq, err)
        waiting = [f for f in futures if f is not None]
        if waiting:
            await asyncio.wait(waiting, timeout=self._ack_timeout_s)
        confirmed = 0
        for future in futures:
            if future is not None and not _stored(future, self.counters):
                break
            confirmed += 1
        for future in waiting:
            future.cancel()  # no use waiting any more: it goes again
        if confirmed:
            self.counters.confirmed += confirmed
            await self._store.confirm_uplink(rows[confirmed - 1].seq, at=self._clock())
        return confirmed

    async def _publish(self, js: Stream, row: UplinkRow) -> "asyncio.Future[PubAck] | None":
        """Hand one message to the client; None for a row that makes no envelope (skipped)."""
        try:
            message = envelope(self._hub_id, row, self._key)
        except ValidationError as err:
            self.counters.unsendable += 1
            log.error("uplink message %d cannot be sent and is skipped: %s", row.seq, err)
            return None
        payload = message.model_dump_json().encode()
        headers = {"Nats-Msg-Id": message_id(self._hub_id, row.seq)}
        future = await js.publish_async(
            uplink_subject(self._hub_id, row.kind), payload, headers=headers
        )
        self.counters.published += 1
        return future


def _stored(future: "asyncio.Future[PubAck]", counters: Counters) -> bool:
    """Whether the stream acknowledged the message as stored (now, or by an earlier send)."""
    if not future.done() or future.cancelled() or future.exception() is not None:
        return False
    if future.result().duplicate:
        counters.duplicates += 1
    return True
