"""The store's device registry: registered devices, their health, and devices heard but unpaired.

Part of the SQLite store (mixed into `hub.store.store.Store`).
"""

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from statistics import median
from typing import Any, Protocol

from hub.store.connection import Connection
from hub.store.records import DeviceHealth, HealthHour, UnpairedDevice, UnpairedSighting
from hub.store.rows import as_bool, iso
from wire.devices import DeviceRecord

HISTORY_DAYS = 30  # hours of signal and battery history kept per device


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
    _db: Connection

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

    async def devices(self: _Core) -> list[DeviceRecord]:
        """Every registered device."""
        rows = await self._fetch("SELECT * FROM devices ORDER BY id", ())
        return [DeviceRecord.model_validate({**r, "online": as_bool(r["online"])}) for r in rows]

    async def unpaired_devices(self: _Core) -> list[UnpairedDevice]:
        """Devices heard but not registered, most recently heard first."""
        rows = await self._fetch("SELECT * FROM unpaired_devices ORDER BY last_seen DESC", ())
        return [UnpairedDevice.model_validate(r) for r in rows]

    async def signal_history(self: _Core, device_id: str, since: datetime) -> list[HealthHour]:
        """A device's signal and battery, hour by hour from `since` (oldest first).

        Each entry holds the medians of that hour's reports; the hour in progress is included
        from the reports so far. History goes back at most `HISTORY_DAYS`.
        """
        start = iso(_hour(since))
        rows = await self._fetch(
            "SELECT hour, linkquality, battery, samples FROM health_hours"
            " WHERE device_id = ? AND hour >= ? ORDER BY hour",
            (device_id, start),
        )
        hours = [HealthHour.model_validate(r) for r in rows]
        pending = await self._fetch(
            "SELECT device_id, at, battery, linkquality FROM health_samples"
            " WHERE device_id = ? AND at >= ?",
            (device_id, start),
        )
        folded = {h.hour for h in hours}
        hours += [h for _, h in _medians(pending) if h.hour not in folded]
        return sorted(hours, key=lambda h: h.hour)


def record_sightings(
    db: sqlite3.Connection,
    health: Sequence[DeviceHealth],
    unpaired: Sequence[UnpairedSighting],
    commands: Mapping[str, Sequence[str]],
) -> None:
    """What was heard of devices, paired or not (inside the commit of the batch that heard it)."""
    db.executemany(
        "UPDATE devices SET last_seen = max(coalesce(last_seen, ''), :at),"
        " battery = coalesce(:battery, battery), linkquality = coalesce(:lq, linkquality)"
        " WHERE id = :id",
        [
            {"at": iso(h.at), "battery": h.battery, "lq": h.linkquality, "id": h.device_id}
            for h in health
        ],
    )
    # A device only listed by Zigbee2MQTT (not heard) is recorded with no messages. One heard
    # before the hub reloaded its adoption is registered already: no stranger.
    db.executemany(
        "INSERT INTO unpaired_devices (source, address, model, first_seen, last_seen, messages)"
        " SELECT ?, ?, ?, ?, ?, ? WHERE NOT EXISTS"
        " (SELECT 1 FROM devices WHERE id = ?2 OR friendly_name = ?2)"
        " ON CONFLICT (source, address) DO UPDATE SET"
        " model = coalesce(excluded.model, model), messages = messages + excluded.messages,"
        " last_seen = CASE excluded.messages WHEN 0 THEN last_seen ELSE excluded.last_seen END",
        [(u.source, u.address, u.model, iso(u.at), iso(u.at), int(u.spoke)) for u in unpaired],
    )
    db.executemany(
        "UPDATE devices SET commands = ? WHERE id = ?",
        [(",".join(names), device_id) for device_id, names in commands.items()],
    )
    _record_history(db, health)


def _record_history(db: sqlite3.Connection, health: Sequence[DeviceHealth]) -> None:
    """Keep each report's signal and battery; fold the hours that are over into their medians."""
    reported = [h for h in health if h.linkquality is not None or h.battery is not None]
    if not reported:
        return
    db.executemany(
        "INSERT INTO health_samples (device_id, at, battery, linkquality) VALUES (?, ?, ?, ?)",
        [(h.device_id, _utc(h.at), h.battery, h.linkquality) for h in reported],
    )
    current = iso(_hour(max(h.at for h in reported)))
    over = [
        dict(zip(("device_id", "at", "battery", "linkquality"), row, strict=True))
        for row in db.execute(
            "SELECT device_id, at, battery, linkquality FROM health_samples WHERE at < ?",
            (current,),
        ).fetchall()
    ]
    if not over:
        return
    # A report stamped in an hour already folded (the clock was set back) only adds to its count.
    db.executemany(
        "INSERT INTO health_hours (device_id, hour, battery, linkquality, samples)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, hour)"
        " DO UPDATE SET samples = samples + excluded.samples",
        [
            (device_id, iso(h.hour), h.battery, h.linkquality, h.samples)
            for device_id, h in _medians(over)
        ],
    )
    db.execute("DELETE FROM health_samples WHERE at < ?", (current,))
    oldest = _hour(max(h.at for h in reported)) - timedelta(days=HISTORY_DAYS)
    db.execute("DELETE FROM health_hours WHERE hour < ?", (iso(oldest),))


def _medians(rows: Iterable[dict[str, Any]]) -> list[tuple[str, HealthHour]]:
    """Reports grouped by device and hour, each group as its medians."""
    groups: defaultdict[tuple[str, datetime], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["device_id"], _hour(datetime.fromisoformat(row["at"]))].append(row)
    return [
        (device_id, HealthHour(
            hour=hour,
            linkquality=_median([r["linkquality"] for r in group]),
            battery=_median([r["battery"] for r in group]),
            samples=len(group),
        ))
        for (device_id, hour), group in groups.items()
    ]  # fmt: skip


def _median(values: Iterable[int | None]) -> float | None:
    known = [v for v in values if v is not None]
    return float(median(known)) if known else None


def _hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()
