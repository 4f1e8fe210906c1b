"""Talking to systemd: readiness and watchdog pings over $NOTIFY_SOCKET (sd_notify protocol).

No extra daemon or library: one datagram per message to the socket systemd names. Outside
systemd (no NOTIFY_SOCKET) every call does nothing.
"""

import asyncio
import logging
import os
import socket

log = logging.getLogger("telecare.hub")


class SystemdNotifier:
    """Sends `READY=1`, `WATCHDOG=1`, `STOPPING=1` and `STATUS=...` to systemd."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        # An address starting with "@" is in the abstract namespace.
        self._address = "\0" + address[1:] if address.startswith("@") else address
        usec = env.get("WATCHDOG_USEC", "")
        self.watchdog_s: float | None = int(usec) / 1_000_000 if usec.isdigit() else None

    @property
    def enabled(self) -> bool:
        """Whether the hub runs under systemd with a notify socket."""
        return bool(self._address)

    def notify(self, *lines: str) -> None:
        """Send one message of `KEY=value` lines; failures are logged, never raised."""
        if not self._address:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.sendto("\n".join(lines).encode(), self._address)
        except OSError as err:
            log.warning("cannot notify systemd at %s: %s", self._address.strip("\0"), err)

    async def keep_alive(self) -> None:
        """Ping the watchdog at half its interval for as long as the event loop runs."""
        if self.watchdog_s is None or not self.enabled:
            return
        while True:
            self.notify("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_s / 2)
