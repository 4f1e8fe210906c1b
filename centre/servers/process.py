"""Free loopback ports, waiting on a condition, and stopping a child process cleanly."""

import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

STOP_TIMEOUT_S = 10.0


class ServerStartError(Exception):
    """A server did not come up; the message names it and quotes its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Poll `check` until it is true.

    Raises:
        ServerStartError: `check` stayed false for `timeout_s`; names `what`.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    msg = f"{what} was not ready within {timeout_s:.0f} s"
    raise ServerStartError(msg)


def stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Ask a child to stop with `sig`, and kill it if it has not within `STOP_TIMEOUT_S`."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT_S)


class ManagedServer:
    """A server started on entering a `with` block and stopped on leaving it."""

    def start(self) -> None:
        """Start the server and wait until it serves."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the server."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
