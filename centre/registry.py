"""Registering a home: the database rows, the hub's downlink consumer, and its NATS user.

The broker learns a new hub's user from `accounts.conf`, rewritten from the database and
reloaded by every node; the consumer `hub-<hub>` is created before the hub is told its
credentials, so an operator action for it is kept from the first minute.
"""

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

import asyncpg

from centre.bus import CentreBus
from centre.db import homes
from centre.db.models import ContactRow, HubCredentials
from centre.servers.natsconf import (
    accounts_unchanged,
    centre_hash_in,
    password_hash,
    render_accounts,
    write_accounts,
)

UsersChanged = Callable[[dict[str, str]], Awaitable[None]]


class AccountsFile:
    """The production way to tell the brokers: write `accounts.conf`, signal each node to reload.

    Args:
        path: The accounts file every node's configuration includes.
        centre_user: The centre's NATS user.
        centre_password: Its password (only its hash is written).
        pid_files: The nats-server pid files on this machine (`pid_file` in their config);
            nodes on other hosts reload when their copy of the file is deployed.
    """

    def __init__(
        self, path: Path, centre_user: str, centre_password: str, pid_files: Sequence[Path] = ()
    ) -> None:
        self._path = path
        self._user, self._password = centre_user, centre_password
        self._hash: str | None = None  # the centre's, once known: the file's, or made anew
        self._pid_files = list(pid_files)

    async def __call__(self, hubs: dict[str, str]) -> None:
        """Rewrite the file with these hubs' users and reload the local nodes.

        Nothing is written or reloaded if the file says so already (a restart, say).
        """
        text = render_accounts(self._user, await self._centre_hash(), hubs)
        if await asyncio.to_thread(accounts_unchanged, self._path.parent, text):
            return
        await asyncio.to_thread(write_accounts, self._path.parent, text)
        for pid_file in self._pid_files:
            os.kill(int(pid_file.read_text().strip()), signal.SIGHUP)

    async def _centre_hash(self) -> str:
        found = self._hash or await asyncio.to_thread(
            centre_hash_in, self._path.parent, self._user, self._password
        )
        if found is None:
            found = await asyncio.to_thread(password_hash, self._password)
        self._hash = found
        return found


class Registry:
    """Adds homes and keeps the broker's hub users in step with the database."""

    def __init__(self, pool: asyncpg.Pool, bus: CentreBus, users_changed: UsersChanged) -> None:
        self._pool = pool
        self._bus = bus
        self._users_changed = users_changed

    async def add_home(
        self,
        home_id: str,
        name: str,
        *,
        hub_id: str | None = None,
        contacts: Sequence[ContactRow] = (),
        escalation: Mapping[str, int] | None = None,
    ) -> HubCredentials:
        """Register a home and its hub; the hub's credentials, to be shown once.

        Raises:
            RegistrationError: the home or hub is already registered.
        """
        async with self._pool.acquire() as conn:
            credentials = await homes.register_home(
                conn, home_id, name, hub_id=hub_id, contacts=contacts, escalation=escalation
            )
        await self._bus.ensure_hub_consumer(credentials.hub_id)
        await self.sync_users()
        return credentials

    async def sync_users(self) -> None:
        """Give the broker every registered hub's user (at start, and after each change)."""
        async with self._pool.acquire() as conn:
            hashes = await homes.hub_password_hashes(conn)
        await self._users_changed(hashes)
