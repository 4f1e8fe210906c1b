"""The centre's side of NATS JetStream: streams, consumers, fetching uplink, publishing downlink.

The only centre module that touches nats-py; its messages and errors do not leave here. The
streams are replicated on every node (R3): a message the stream acknowledged survives the loss
of one node. Uplink messages are fetched from the durable pull consumer of their partition
(`centre.partitions`), one per partition; each is acknowledged only after it is written.
"""

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import nats
import nats.errors
import nats.js.errors
import stamina
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig

from centre.partitions import (
    STORED_SUBJECTS,
    UPLINK_PARTITIONS,
    partition_consumer,
    partition_filter,
    stored_subject,
)
from wire.uplink import (
    DOWNLINK_STREAM,
    DOWNLINK_SUBJECTS,
    UPLINK_STREAM,
    OperatorAction,
    RelayedVoice,
    downlink_consumer,
    downlink_subject,
)

log = logging.getLogger("telecare.centre.bus")
DUPLICATE_WINDOW_S = 120.0
ACK_WAIT_S = 30.0
MAX_ACK_PENDING = 10_000
DOWNLINK_MAX_AGE_S = 7 * 24 * 3600.0  # an action for a hub that never comes back expires
# A cluster just started, or electing a new leader after losing a node, answers JetStream's
# management requests with "unavailable" for a few seconds: such a request is tried again.
JETSTREAM_SETTLING = stamina.retry(
    on=(
        nats.js.errors.ServiceUnavailableError,
        nats.errors.NoRespondersError,
        nats.errors.TimeoutError,
    ),
    attempts=None,
    timeout=30.0,
    wait_initial=0.1,
    wait_max=2.0,
)


class BusError(Exception):
    """NATS could not be reached or refused a request; the message says which."""


def stop_if_cancelled() -> None:
    """Raise `CancelledError` again if this task was cancelled and the cancellation was lost.

    nats-py catches a `CancelledError` that arrives while it queues a flush, and carries on: a
    loop around the bus would never stop, and the centre would not exit on SIGINT or SIGTERM.
    The task still counts the request to cancel it; each loop calls this once a round.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def tls_context(ca_file: Path) -> ssl.SSLContext:
    """A client TLS context that trusts only the centre's CA."""
    context = ssl.create_default_context(cafile=str(ca_file))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


@dataclass(slots=True)
class Received:
    """One uplink message as fetched: acknowledge it once it is written, or give it back."""

    subject: str
    data: bytes
    deliveries: int
    _msg: Msg

    async def ack(self) -> None:
        """Written: the stream may forget it for this consumer."""
        try:
            await self._msg.ack()
        except nats.errors.Error as err:  # the message comes again: its write is idempotent
            msg = f"could not ack {self.subject}: {err!r}"
            raise BusError(msg) from err

    async def retry(self, delay_s: float) -> None:
        """Not written (the database failed): deliver again after `delay_s`."""
        try:
            await self._msg.nak(delay=delay_s)
        except nats.errors.Error as err:  # the message comes again: its write is idempotent
            msg = f"could not retry {self.subject}: {err!r}"
            raise BusError(msg) from err

    async def drop(self) -> None:
        """Refused for good (counted elsewhere): never deliver it again."""
        try:
            await self._msg.term()
        except nats.errors.Error as err:  # the message comes again: its write is idempotent
            msg = f"could not drop {self.subject}: {err!r}"
            raise BusError(msg) from err


@dataclass(frozen=True, slots=True)
class Newest:
    """A hub's newest uplink message of one kind as the stream holds it, written or not."""

    subject: str
    data: bytes
    taken_at: datetime | None  # when the stream took it


class CentreBus:
    """One connection of the centre to the cluster, with its own user (full rights)."""

    def __init__(self, client: Client) -> None:
        self._nc = client
        self._js = client.jetstream(timeout=10)
        self._partitions: dict[int, nats.js.JetStreamContext.PullSubscription] = {}

    @classmethod
    async def connect(
        cls, servers: Sequence[str], *, user: str, password: str, ca_file: Path, name: str
    ) -> Self:
        """Connect over TLS; reconnects to any node for as long as the centre runs.

        Raises:
            BusError: no node could be reached or the credentials were refused.
        """
        try:
            client = await nats.connect(
                servers=list(servers),
                user=user,
                password=password,
                tls=tls_context(ca_file),
                name=name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                connect_timeout=5,
                allow_reconnect=True,
                error_cb=_log_error,
                disconnected_cb=_log_disconnected,
                reconnected_cb=_log_reconnected,
            )
        except (OSError, nats.errors.Error) as err:
            msg = f"NATS unreachable at {', '.join(servers)}: {err!r}"
            raise BusError(msg) from err
        return cls(client)

    async def close(self) -> None:
        """Flush what is sent (acknowledgements too) and close the connection."""
        if self._nc.is_closed:
            return
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await self._nc.flush(timeout=5)
        await self._nc.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @JETSTREAM_SETTLING
    async def ensure_streams(self, replicas: int = 3) -> None:
        """Create (or update) UPLINK, DOWNLINK and each partition's consumer; idempotent.

        The brokers must map `uplink.<hub>.<kind>` to its partition (`UPLINK_MAPPING`).
        """
        uplink = StreamConfig(
            name=UPLINK_STREAM,
            subjects=[STORED_SUBJECTS],
            storage=StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
        downlink = StreamConfig(
            name=DOWNLINK_STREAM,
            subjects=[DOWNLINK_SUBJECTS],
            storage=StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=DUPLICATE_WINDOW_S,
            max_age=DOWNLINK_MAX_AGE_S,
        )
        for config in (uplink, downlink):
            try:
                await self._js.add_stream(config)
            except nats.js.errors.BadRequestError:
                await self._js.update_stream(config)  # it exists with other settings
        for partition in range(UPLINK_PARTITIONS):
            await self._ensure_partition_consumer(partition)

    async def _ensure_partition_consumer(self, partition: int) -> None:
        await self._js.add_consumer(
            UPLINK_STREAM,
            ConsumerConfig(
                durable_name=partition_consumer(partition),
                filter_subject=partition_filter(partition),
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ACK_WAIT_S,
                max_ack_pending=MAX_ACK_PENDING,
                max_deliver=-1,
            ),
        )

    @JETSTREAM_SETTLING
    async def ensure_hub_consumer(self, hub_id: str) -> None:
        """The durable pull consumer `hub-<hub>` on DOWNLINK, filtered to that hub's actions."""
        await self._js.add_consumer(
            DOWNLINK_STREAM,
            ConsumerConfig(
                durable_name=downlink_consumer(hub_id),
                filter_subject=downlink_subject(hub_id),
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ACK_WAIT_S,
                max_deliver=-1,
            ),
        )

    async def fetch(self, partition: int, batch: int, timeout_s: float) -> list[Received]:
        """Up to `batch` uplink messages of one partition, in order; empty after `timeout_s`.

        Raises:
            BusError: the cluster could not serve the request (a node failing over, say).
        """
        subscription = self._partitions.get(partition)
        if subscription is None:
            subscription = await self._js.pull_subscribe_bind(
                partition_consumer(partition), UPLINK_STREAM
            )
            self._partitions[partition] = subscription
        try:
            msgs = await subscription.fetch(batch, timeout=timeout_s)
        except TimeoutError:  # nats-py raises its own and, mid-failover, the plain one: no messages
            return []
        except nats.errors.Error as err:
            msg = f"fetching uplink messages failed: {err!r}"
            raise BusError(msg) from err
        return [Received(m.subject, m.data, m.metadata.num_delivered, m) for m in msgs]

    async def backlog(self) -> int:
        """Uplink messages not yet written by any worker (waiting, or fetched but not acked).

        Raises:
            BusError: the cluster could not answer.
        """
        try:
            infos = await asyncio.gather(
                *(
                    self._js.consumer_info(UPLINK_STREAM, partition_consumer(p))
                    for p in range(UPLINK_PARTITIONS)
                )
            )
        except (nats.errors.Error, TimeoutError) as err:
            msg = f"the workers' consumers could not be read: {err!r}"
            raise BusError(msg) from err
        return sum(int(i.num_pending or 0) + int(i.num_ack_pending or 0) for i in infos)

    async def newest(self, hub_id: str, kind: str) -> Newest | None:
        """The newest message of `kind` the stream holds from `hub_id`; None if none.

        Raises:
            BusError: the cluster could not answer.
        """
        subject = stored_subject(hub_id, kind)
        try:
            msg = await self._js.get_last_msg(UPLINK_STREAM, subject)
        except nats.js.errors.NotFoundError:
            return None
        except (nats.errors.Error, TimeoutError) as err:
            msg_text = f"the newest message under {subject} could not be read: {err!r}"
            raise BusError(msg_text) from err
        return Newest(msg.subject or subject, msg.data or b"", msg.time)

    async def publish_action(self, action: OperatorAction) -> None:
        """Publish a signed operator action on its hub's downlink, once (by action id).

        Raises:
            BusError: the stream did not acknowledge it.
        """
        await self._publish_downlink(action.hub_id, action.model_dump_json(), action.action_id)

    async def publish_relay(self, relayed: RelayedVoice) -> None:
        """Publish a signed relayed key press on its hub's downlink, once (by relay id).

        Raises:
            BusError: the stream did not acknowledge it.
        """
        await self._publish_downlink(relayed.hub_id, relayed.model_dump_json(), relayed.relay_id)

    async def _publish_downlink(self, hub_id: str, payload: str, msg_id: str) -> None:
        try:
            await self._js.publish(
                downlink_subject(hub_id),
                payload.encode(),
                stream=DOWNLINK_STREAM,
                headers={"Nats-Msg-Id": msg_id},
            )
        except (nats.errors.Error, TimeoutError) as err:
            msg = f"the downlink did not take {msg_id}: {err!r}"
            raise BusError(msg) from err


async def _log_error(err: Exception) -> None:
    log.warning("NATS: %r", err)


async def _log_disconnected() -> None:
    log.warning("NATS unreachable; reconnecting")


async def _log_reconnected() -> None:
    log.info("NATS reachable again")
