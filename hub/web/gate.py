"""The dashboard's port, held open from the start; the web stack is loaded at the first visit.

FastAPI, uvicorn and the templates cost some 13 MB of memory, which a hub nobody has looked at
yet need not spend. The port is bound (and the certificate read) at start, so a problem is
reported then, as before; connections wait in the socket's backlog until the dashboard, loaded
in a thread while alarms go on being handled, accepts them.
"""

import asyncio
import importlib
import logging
import socket
import ssl
from types import TracebackType
from typing import Any, Self

from hub.web.context import WebContext

log = logging.getLogger("telecare.web")


def listening_socket(host: str, port: int) -> socket.socket:
    """The dashboard's listening socket."""
    sock = socket.create_server((host, port))
    # Accepted sockets inherit this; without it every response waits out a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class DashboardGate:
    """Holds the dashboard's port and starts the dashboard when the first visitor knocks."""

    def __init__(self, ctx: WebContext) -> None:
        self._ctx = ctx
        self._sock: socket.socket | None = None
        self._server: Any = None  # hub.web.app.WebServer, once loaded
        self._opening: asyncio.Task[None] | None = None
        self.port: int | None = None

    async def __aenter__(self) -> Self:
        settings = self._ctx.settings
        where = f"{settings.host}:{settings.port}"
        try:
            if settings.certfile is not None:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.load_cert_chain(settings.certfile, settings.keyfile)
            self._sock = listening_socket(settings.host, settings.port)
        except (OSError, ssl.SSLError) as err:
            log.error("dashboard not started on %s: %s", where, err.strerror or err)
            return self
        self.port = self._sock.getsockname()[1]
        asyncio.get_running_loop().add_reader(self._sock, self._knock)
        scheme = "https" if settings.certfile else "http"
        url = f"{scheme}://{settings.host}:{self.port}/"
        log.info("dashboard on %s (started at the first visit)", url)
        return self

    def _knock(self) -> None:
        assert self._sock is not None
        asyncio.get_running_loop().remove_reader(self._sock)
        self._opening = asyncio.create_task(self._open(self._sock), name="web-open")

    async def _open(self, sock: socket.socket) -> None:
        try:
            web = await asyncio.to_thread(importlib.import_module, "hub.web.app")
            self._server = await web.WebServer(self._ctx, sock).__aenter__()
        except Exception:  # the alarm path never depends on the dashboard
            log.exception("dashboard could not be started")
            sock.close()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._opening is not None:
            await asyncio.gather(self._opening, return_exceptions=True)
        if self._server is not None:
            await self._server.__aexit__(exc_type, exc, tb)
        elif self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock)
            self._sock.close()
