"""The store's device registry: registered devices, their health, and devices heard but unpaired.

Part of the SQLite store (mixed into `hub.store.Store`).
"""

from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import aiosqlite

from hub.records import (
    SIGNAL_LONG_WEIGHT,
    SIGNAL_RECENT_WEIGHT,
    DeviceHealth,
    DeviceRecord,
    UnpairedDevice,
    UnpairedSighting,
)
from hub.store_rows import as_bool, iso


@dataclass(frozen=True, slots=True)
class NewDevice:
    """A device to register (from the configuration file or pairing)."""

    id: str
    name: str
    role: str
    room: str | None
    source: str
    friendly_name: str | None
    model: str | None
    origin: str


class _Core(Protocol):
    _db: aiosqlite.Connection

    def _transaction(self) -> AbstractAsyncContextManager[None]: ...

    async def _fetch(self, sql: str, params: Sequence[object]) -> list[dict[str, Any]]: ...


class DeviceRecords:
    """Who is registered, what was last heard of each, and who spoke without being paired."""

    async def register_devices(self: _Core, devices: Iterable[NewDevice], *, at: datetime) -> None:
        """Insert devices, or update their descriptive fields if already registered."""
        rows = [
            (d.id, d.name, d.role, d.room, d.source, d.friendly_name, d.model, d.origin, iso(at))
            for d in devices
        ]
        async with self._transaction():
            await self._db.executemany(
                "INSERT INTO devices (id, name, role, room, source, friendly_name, model, origin,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                " name = excluded.name, role = excluded.role, room = excluded.room,"
                " source = excluded.source, friendly_name = excluded.friendly_name,"
                " model = excluded.model",
                rows,
            )
            # An adopted device is no longer a stranger.
            await self._db.executemany(
                "DELETE FROM unpaired_devices WHERE address = ? OR address = ?",
                [(row[0], row[5]) for row in rows],
            )

    async def update_device(
        self: _Core, device_id: str, *, name: str | None, room: str | None
    ) -> bool:
        """Rename a device or move it to another room; False if there is no such device."""
        async with self._transaction():
            cursor = await self._db.execute(
                "UPDATE devices SET name = coalesce(?, name), room = coalesce(?, room)"
                " WHERE id = ?",
                (name, room, device_id),
            )
            return cursor.rowcount == 1

    async def remove_device(self: _Core, device_id: str) -> bool:
        """Forget a device (its stored events stay); False if there is no such device."""
        async with self._transaction():
            cursor = await self._db.execute("DELETE FROM devices WHERE id = ?", (device_id,))
            return cursor.rowcount == 1

    async def _record_sightings(
        self: _Core, health: Sequence[DeviceHealth], unpaired: Sequence[UnpairedSighting]
    ) -> None:
        await self._db.executemany(
            "UPDATE devices SET last_seen = max(coalesce(last_seen, ''), :at),"
            " battery = coalesce(:battery, battery), linkquality = coalesce(:lq, linkquality),"
            " signal_recent = CASE WHEN :lq IS NULL THEN signal_recent"
            "  ELSE coalesce(signal_recent * (1 - :recent) + :lq * :recent, :lq) END,"
            " signal_long = CASE WHEN :lq IS NULL THEN signal_long"
            "  ELSE coalesce(signal_long * (1 - :long) + :lq * :long, :lq) END"
            " WHERE id = :id",
            [
                {
                    "at": iso(h.at),
                    "battery": h.battery,
                    "lq": h.linkquality,
                    "recent": SIGNAL_RECENT_WEIGHT,
                    "long": SIGNAL_LONG_WEIGHT,
                    "id": h.device_id,
                }
                for h in health
            ],
        )
        # A device only listed by Zigbee2MQTT (not heard) is recorded with no messages.
        await self._db.executemany(
            "INSERT INTO unpaired_devices (source, address, model, first_seen, last_seen,"
            " messages) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (source, address) DO UPDATE SET"
            " model = coalesce(excluded.model, model), messages = messages + excluded.messages,"
            " last_seen = CASE excluded.messages WHEN 0 THEN last_seen ELSE excluded.last_seen END",
            [(u.source, u.address, u.model, iso(u.at), iso(u.at), int(u.spoke)) for u in unpaired],
        )

    async def devices(self: _Core) -> list[DeviceRecord]:
        """Every registered device."""
        rows = await self._fetch("SELECT * FROM devices ORDER BY id", ())
        return [DeviceRecord.model_validate({**r, "online": as_bool(r["online"])}) for r in rows]

    async def unpaired_devices(self: _Core) -> list[UnpairedDevice]:
        """Devices heard but not registered, most recently heard first."""
        rows = await self._fetch("SELECT * FROM unpaired_devices ORDER BY last_seen DESC", ())
        return [UnpairedDevice.model_validate(r) for r in rows]
