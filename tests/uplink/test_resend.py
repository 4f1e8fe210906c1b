"""A hub that dies after publishing but before marking the message confirmed sends it again; the
stream keeps it once (its de-duplication by `Nats-Msg-Id`), and says so in its acknowledgement.
"""

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext

from hub.store.store import Batch, Store
from hub.store.uplink import UplinkRow
from hub.uplink.publisher import Publisher
from rules.incidents import Incident, IncidentChanged
from tests.uplink.conftest import HUB_ID, HUB_KEY, HUB_PASSWORD
from tests.uplink.engine import Engine
from wire.uplink import IncidentUpdate, inbox_prefix

CHANGES = ("pending", "firing", "acknowledged")


class Killed(BaseException):
    """The process died here (nothing after this point of it ran)."""


class DiesBeforeConfirming:
    """The store, as a hub sees it that dies just before marking anything confirmed."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def uplink_pending(self, *, limit: int) -> list[UplinkRow]:
        return await self._store.uplink_pending(limit=limit)

    async def confirm_uplink(self, seq: int, *, at: datetime) -> None:
        raise Killed


@asynccontextmanager
async def hub_connection(engine: Engine) -> AsyncIterator[JetStreamContext]:
    tls = ssl.create_default_context(cafile=str(engine.certs.ca))
    nc = await nats.connect(
        engine.url,
        user=HUB_ID,
        password=HUB_PASSWORD,
        tls=tls,
        inbox_prefix=inbox_prefix(HUB_ID),
        allow_reconnect=False,
    )
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def _changes(store: Store, at: datetime) -> None:
    """An incident's life so far, committed as the event path commits it."""
    await store.link_uplink(HUB_ID, {"emergency": 2}, at=at)
    previous = None
    for state in CHANGES:
        incident = Incident(
            id="help_call-1",
            cause="help_call",
            severity="emergency",
            state=state,  # type: ignore[arg-type]
            device_id="pendant-1",
            opened_at=at,
            text="Mum pressed the pendant and needs help.",
            acknowledged_by="Alice" if state == "acknowledged" else None,
        )
        change = IncidentChanged(incident=incident, previous=previous, reason=state, at=at)
        await store.commit(Batch(actions=[change]), at=at)
        previous = state


def _publisher(store: Store | DiesBeforeConfirming) -> Publisher:
    key = bytes.fromhex(HUB_KEY)
    return Publisher(
        store, hub_id=HUB_ID, key=key, ack_timeout_s=5, clock=lambda: datetime.now(UTC)
    )


async def test_a_resend_after_dying_unconfirmed_is_stored_once(
    tmp_path: Path, engine: Engine
) -> None:
    db, now = tmp_path / "hub.db", datetime.now(UTC)
    async with Store.open(db) as store:
        await _changes(store, now)
        async with hub_connection(engine) as js:
            with pytest.raises(Killed):
                await _publisher(DiesBeforeConfirming(store)).drain(js)
        assert await store.uplink_confirmed() == 0, "nothing was marked"
    stored_before = len(await engine.uplink())

    async with Store.open(db) as store, hub_connection(engine) as js:  # the hub restarted
        again = _publisher(store)
        confirmed = await again.drain(js)
        assert await store.uplink_waiting() == 0

    envelopes = await engine.envelopes()
    assert stored_before == len(CHANGES)
    assert confirmed == len(CHANGES)
    assert again.counters.duplicates == len(CHANGES), "the stream knew each of them"
    assert [e.seq for e in envelopes] == [1, 2, 3], "each stored once"
    assert [e.body.state for e in envelopes if isinstance(e.body, IncidentUpdate)] == list(CHANGES)
