"""Free loopback ports, waiting on a condition, and stopping a child process cleanly.

A port from `free_port` is free when chosen, but it is released before the server binds it,
so another process can take it in between (a client's outgoing connection, even one of the
cluster's own nodes connecting to another). A server that fails for that raises
`PortInUseError`, and `start_on_fresh_ports` starts it again on ports chosen anew.
"""

import contextlib
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

import stamina

STOP_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 5
_ADDRESS_IN_USE = re.compile(r"address already in use", re.IGNORECASE)


class ServerStartError(Exception):
    """A server did not come up; the message names it and quotes its log."""


class NotReadyError(ServerStartError):
    """A server still running did not become ready in time."""


class PortInUseError(ServerStartError):
    """A server exited because a port chosen for it was taken before it could listen there.

    Attributes:
        port: The port it could not listen on.
    """

    def __init__(self, message: str, port: int) -> None:
        super().__init__(message)
        self.port = port


def port_in_use(log: str, what: str, ports: dict[str, int]) -> PortInUseError | None:
    """The error for a server whose `log` says one of its `ports` (by role) was in use.

    Args:
        log: What the server wrote before it exited.
        what: The server, as the message names it ("NATS node n2").
        ports: Its ports by role ("client": 4222). The one named on the log's "address already
            in use" line is blamed, else the first (PostgreSQL's line names no port).
    """
    lines = [line for line in log.splitlines() if _ADDRESS_IN_USE.search(line)]
    if not lines:
        return None
    named = [(role, port) for role, port in ports.items() if re.search(rf"\b{port}\b", lines[0])]
    role, port = (named or list(ports.items()))[0]
    return PortInUseError(f"{what}: its {role} port {port} is already in use", port)


def start_on_fresh_ports(start: Callable[[int], None], *, what: str) -> None:
    """Call `start(attempt)` (1, 2, ...) again while it fails for a port taken meanwhile.

    `start` must choose fresh ports when `attempt` is over 1. At most `PORT_ATTEMPTS` tries.

    Raises:
        PortInUseError: the last try failed too; names the port and how many tries were made.
    """
    try:
        for attempt in stamina.retry_context(
            on=PortInUseError,
            attempts=PORT_ATTEMPTS,
            timeout=None,
            wait_initial=0.05,
            wait_max=1.0,
            wait_jitter=0.1,
        ):
            with attempt:
                start(attempt.num)
    except PortInUseError as err:
        msg = f"{what} did not start: {err} ({PORT_ATTEMPTS} tries, on fresh ports each time)"
        raise PortInUseError(msg, err.port) from err


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(check: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Poll `check` until it is true.

    Raises:
        NotReadyError: `check` stayed false for `timeout_s`; names `what`.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    msg = f"{what} was not ready within {timeout_s:.0f} s"
    raise NotReadyError(msg)


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
        try:
            self.start()
        except BaseException:
            self.stop()  # what did start is stopped again
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
