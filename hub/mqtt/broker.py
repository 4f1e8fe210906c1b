"""A local MQTT broker on a free loopback port, for the demo and the tests.

Mosquitto when it is installed (what real homes run); otherwise the embedded amqtt broker, run in
a child process so that both kinds are started and stopped the same way, by PID.
"""

import asyncio
import contextlib
import getpass
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

log = logging.getLogger("telecare.broker")
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
BrokerKind = Literal["auto", "mosquitto", "embedded"]


class BrokerStartError(Exception):
    """The local broker did not start."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalBroker:
    """A broker process bound to 127.0.0.1, with its files under `workdir`.

    Args:
        workdir: Where the configuration, persistence and log go.
        kind: "mosquitto", "embedded", or "auto" (Mosquitto if on PATH).
        port: A fixed port (kept across restarts); a free one if not given.
    """

    host = "127.0.0.1"

    def __init__(self, workdir: Path, *, kind: BrokerKind = "auto", port: int | None = None):
        if kind == "auto":
            kind = "mosquitto" if shutil.which("mosquitto") else "embedded"
        self.kind: BrokerKind = kind
        self.workdir = workdir
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process else None

    @property
    def log_path(self) -> Path:
        """The broker's own log file."""
        return self.workdir / f"{self.kind}.log"

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(  # noqa: S603  # fixed argv, no shell
                self._command(), stdout=log_file, stderr=subprocess.STDOUT, cwd=self.workdir
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerStartError(f"{self.kind} exited at start: {self._log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), 0.2),
            ):
                log.info("%s broker listening on %s:%d", self.kind, self.host, self.port)
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerStartError(f"{self.kind} did not listen on port {self.port} in time")

    def stop(self) -> None:
        """Stop the broker by PID (SIGTERM, then SIGKILL if it lingers)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        """Stop and start again on the same port, keeping persisted sessions."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _command(self) -> list[str]:
        if self.kind == "mosquitto":
            conf = self.workdir / "mosquitto.conf"
            conf.write_text(_mosquitto_conf(self.port, self.workdir))
            return [shutil.which("mosquitto") or "mosquitto", "-c", str(conf)]
        return [sys.executable, "-m", "hub.mqtt.broker", str(self.port)]

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-600:].strip()
        except OSError:
            return "(no log)"


def _mosquitto_conf(port: int, workdir: Path) -> str:
    lines = [
        f"listener {port} 127.0.0.1",
        "allow_anonymous true",
        "persistence true",
        f"persistence_location {workdir}/",
        # Keep every QoS 1 message queued for a disconnected persistent session (the default
        # of 1000 would drop part of a burst published while the hub restarts).
        "max_queued_messages 0",
        # The hub acknowledges a batch once it is on disk; Mosquitto's default of 20 messages
        # in flight would make a burst wait for one disk sync per 20 messages.
        "max_inflight_messages 1000",
        # Send each message at once: with Nagle's algorithm a message can wait some 40 ms for
        # the TCP acknowledgement of the one before it.
        "set_tcp_nodelay true",
        "log_dest stdout",
        "log_type error",
        "log_type warning",
        "log_type notice",
    ]
    if os.geteuid() == 0:
        lines.append(f"user {getpass.getuser()}")  # keep root's ownership of workdir files
    return "\n".join(lines) + "\n"


async def _serve_embedded(port: int) -> None:
    from amqtt.broker import Broker  # noqa: PLC0415  # only the embedded broker needs amqtt

    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await broker.shutdown()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve_embedded(int(sys.argv[1])))
