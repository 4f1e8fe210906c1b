"""Apply `centre/migrations/NNNN_*.sql` in order, each in one transaction, recorded once.

A database that has a migration this code does not know was made by newer code: refused, so an
old centre never writes into a schema it does not understand.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# One migrating centre at a time: others wait for the lock instead of racing.
_LOCK_KEY = 7_2850_0001


class DatabaseTooNew(Exception):  # noqa: N818 - the name says what the database is
    """The database has migrations this code does not know."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema change."""

    version: int
    name: str
    sql: str


def migrations(folder: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in `folder`, by number.

    Raises:
        ValueError: a file is misnamed or two share a number.
    """
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            msg = f"migration {path.name} is not named NNNN_words.sql"
            raise ValueError(msg)
        version = int(match.group(1))
        if version in found:
            msg = f"migrations {found[version].name} and {path.name} share number {version}"
            raise ValueError(msg)
        found[version] = Migration(version, path.name, path.read_text())
    return [found[v] for v in sorted(found)]


async def migrate(conn: asyncpg.Connection, folder: Path = MIGRATIONS_DIR) -> list[str]:
    """Bring the database to the newest schema; the names of the migrations applied.

    Raises:
        DatabaseTooNew: the database records a migration newer than any in `folder`.
    """
    known = migrations(folder)
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        newest = max((m.version for m in known), default=0)
        if done and max(done) > newest:
            msg = (
                f"the database is at schema version {max(done)}, newer than this code's "
                f"{newest}: upgrade the centre before running it on this database"
            )
            raise DatabaseTooNew(msg)
    for migration in known:
        if migration.version in done:
            continue
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            if await conn.fetchval(
                "SELECT 1 FROM schema_migrations WHERE version = $1", migration.version
            ):
                continue  # another centre applied it while this one waited
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                migration.version,
                migration.name,
            )
        applied.append(migration.name)
    return applied
