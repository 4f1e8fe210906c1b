"""Acknowledgements wait for the disk, share its syncs, and are not given after a failure."""

import asyncio

import pytest

from hub.mqtt.acks import BrokerAcks
from hub.store.errors import StoreWriteError
from wire.schema import InboundMessage


def _message(mid: int) -> InboundMessage:
    return InboundMessage("telecare/v1/pendant-1/event", b"{}", qos=1, mid=mid)


async def test_batches_committed_during_a_sync_share_the_next_one() -> None:
    acked: list[int] = []
    syncs: list[asyncio.Event] = []

    async def flush() -> None:
        syncs.append(asyncio.Event())
        await syncs[-1].wait()

    async with BrokerAcks(flush, lambda m: acked.append(m.mid)) as acks:
        acks.after_flush([_message(1)])
        await asyncio.sleep(0)
        acks.after_flush([_message(2)])
        acks.after_flush([_message(3)])
        assert acked == []
        syncs[0].set()
        await asyncio.sleep(0)
        assert acked == [1], "2 and 3 came after that sync began"
        syncs[1].set()
        await asyncio.sleep(0)
        assert acked == [1, 2, 3]
        assert len(syncs) == 2


async def test_leaving_acknowledges_what_is_left() -> None:
    acked: list[int] = []

    async def flush() -> None:
        await asyncio.sleep(0)

    async with BrokerAcks(flush, lambda m: acked.append(m.mid)) as acks:
        acks.after_flush([_message(1), _message(2)])
    assert acked == [1, 2]


async def test_a_failure_leaves_unsynced_messages_for_the_broker_to_resend() -> None:
    acked: list[int] = []

    async def flush() -> None:
        await asyncio.Event().wait()  # the disk never answers

    with pytest.raises(RuntimeError, match="ingest failed"):
        async with BrokerAcks(flush, lambda m: acked.append(m.mid)) as acks:
            acks.after_flush([_message(1)])
            await asyncio.sleep(0)
            raise RuntimeError("ingest failed")
    assert acked == []


async def test_a_refused_sync_holds_the_acknowledgements_until_the_disk_takes_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("hub.mqtt.acks.RETRY_S", 0.0)
    acked: list[int] = []
    refusals = [StoreWriteError("sync refused: [Errno 5] Input/output error")]

    async def flush() -> None:
        if refusals:
            raise refusals.pop()

    async with BrokerAcks(flush, lambda m: acked.append(m.mid)) as acks:
        acks.after_flush([_message(1)])
        await asyncio.sleep(0)
        assert acked == [], "nothing is acknowledged on a refused sync"
        acks.after_flush([_message(2)])
        for _ in range(5):
            await asyncio.sleep(0)
        assert acked == [1, 2], "in order, once a sync went through"
