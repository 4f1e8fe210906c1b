"""A light simulated hub that speaks the real uplink protocol: for the demo, tests and bench.

It connects as its own NATS user over TLS with its own inbox prefix, publishes signed envelopes
with `Nats-Msg-Id` and waits for the stream's acknowledgement, and fetches operator actions from
its downlink consumer, acknowledging each and reporting `ActionApplied`. It keeps no store: the
real hub's outbox lives in hub/uplink.
"""

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import nats
import nats.errors
from nats.aio.client import Client

from centre.bus import tls_context
from wire.uplink import (
    DOWNLINK_STREAM,
    ActionApplied,
    DeviceSummary,
    Heartbeat,
    IncidentUpdate,
    OperatorAction,
    UplinkBody,
    UplinkEnvelope,
    downlink_consumer,
    inbox_prefix,
    message_id,
    signed,
    uplink_subject,
    verified,
)

PUBLISH_TIMEOUT_S = 10.0


def _now() -> datetime:
    return datetime.now(UTC)


class SimulatedHub:
    """One home's hub, reduced to its uplink and downlink."""

    def __init__(
        self,
        hub_id: str,
        key: bytes,
        password: str,
        servers: Sequence[str],
        ca_file: Path,
        *,
        first_seq: int = 1,
    ) -> None:
        self.hub_id = hub_id
        self.key = key
        self._password = password
        self._servers = list(servers)
        self._ca_file = ca_file
        self._seq = itertools.count(first_seq)
        self._nc: Client | None = None
        self.started_at = _now()

    async def __aenter__(self) -> Self:
        self._nc = await nats.connect(
            servers=self._servers,
            user=self.hub_id,
            password=self._password,
            tls=tls_context(self._ca_file),
            inbox_prefix=inbox_prefix(self.hub_id),
            name=f"hub {self.hub_id}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=5,
        )
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.close()

    @property
    def client(self) -> Client:
        """The raw connection (the security tests try what the broker must refuse)."""
        assert self._nc is not None, "use the hub as an async context manager"
        return self._nc

    def envelope(self, body: UplinkBody, *, seq: int | None = None) -> UplinkEnvelope:
        """The next signed envelope carrying `body`."""
        number = next(self._seq) if seq is None else seq
        envelope = UplinkEnvelope(hub_id=self.hub_id, seq=number, sent_at=_now(), body=body)
        return signed(envelope, self.key)

    async def publish(self, envelope: UplinkEnvelope, *, data: bytes | None = None) -> bool:
        """Publish an envelope and wait for the stream; False if it was a de-duplicated resend."""
        ack = await self.client.jetstream().publish(
            uplink_subject(self.hub_id, envelope.body.kind),
            envelope.model_dump_json().encode() if data is None else data,
            timeout=PUBLISH_TIMEOUT_S,
            headers={"Nats-Msg-Id": message_id(self.hub_id, envelope.seq)},
        )
        return not ack.duplicate

    async def send(self, body: UplinkBody) -> UplinkEnvelope:
        """Sign `body` with the next sequence number and publish it."""
        envelope = self.envelope(body)
        await self.publish(envelope)
        return envelope

    async def heartbeat(self, *, devices: Sequence[DeviceSummary] = ()) -> UplinkEnvelope:
        """Send a heartbeat now."""
        now = _now()
        body = Heartbeat(
            at=now, version="sim-1", started_at=self.started_at, devices=tuple(devices)
        )
        return await self.send(body)

    async def incident(self, incident_id: str, state: str, **fields: object) -> UplinkEnvelope:
        """Send an incident snapshot (an emergency pendant press unless `fields` say otherwise)."""
        return await self.send(incident_body(incident_id, state, **fields))

    async def actions(self, *, batch: int = 10, timeout_s: float = 1.0) -> list[OperatorAction]:
        """Operator actions waiting on this hub's downlink, verified and acknowledged.

        Raises:
            ValueError: an action was not signed with this hub's key.
        """
        subscription = await self.client.jetstream().pull_subscribe_bind(
            downlink_consumer(self.hub_id), DOWNLINK_STREAM
        )
        try:
            msgs = await subscription.fetch(batch, timeout=timeout_s)
        except TimeoutError:  # nats-py's own, or asyncio's plain one when the wait ran out first
            return []
        finally:
            await subscription.unsubscribe()
        actions: list[OperatorAction] = []
        for msg in msgs:
            action = OperatorAction.model_validate_json(msg.data)
            if not verified(action, self.key):
                msg_text = f"action {action.action_id} is not signed with this hub's key"
                raise ValueError(msg_text)
            actions.append(action)
            await msg.ack()
        return actions

    async def applied(
        self, action: OperatorAction, detail: str = "", *, refused: bool = False
    ) -> UplinkEnvelope:
        """Report that an operator action was carried out (or, `refused`, why it was not)."""
        body = ActionApplied(
            action_id=action.action_id,
            incident_id=action.incident_id,
            applied=not refused,
            detail=detail,
            at=_now(),
        )
        return await self.send(body)


def incident_body(incident_id: str, state: str, **fields: object) -> IncidentUpdate:
    """An incident snapshot: an emergency pendant press in the hall unless `fields` say else."""
    now = _now()
    values: dict[str, object] = {
        "incident_id": incident_id,
        "cause": "pendant",
        "severity": "emergency",
        "state": state,
        "device_id": "pendant",
        "room": "hall",
        "opened_at": now,
        "at": now,
        "text": "Pendant pressed in the hall",
    }
    values.update(fields)
    return IncidentUpdate.model_validate(values)
