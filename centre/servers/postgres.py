"""A throwaway PostgreSQL: `initdb` into a temporary folder, one server on a free loopback port.

Trust authentication, on 127.0.0.1 and a Unix socket in its own folder only: nothing else on the
machine can reach it. PostgreSQL refuses to run as root, so under root the folder is handed to
the `postgres` system user and the server runs as that user. If its port was taken between
being chosen and the server listening there, it starts again on another, a few times at most.
"""

import contextlib
import getpass
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from centre.servers.process import (
    ManagedServer,
    ServerStartError,
    free_port,
    port_in_use,
    start_on_fresh_ports,
    stop,
    wait_for,
)

START_TIMEOUT_S = 60.0
SUPERUSER = "postgres"


def postgres_bindir() -> Path:
    """The newest installed PostgreSQL's binaries folder (Debian: /usr/lib/postgresql/N/bin).

    Raises:
        ServerStartError: no PostgreSQL server is installed.
    """
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    on_path = shutil.which("postgres")
    if on_path is not None:
        return Path(on_path).parent
    msg = "PostgreSQL is not installed (apt-get install postgresql)"
    raise ServerStartError(msg)


class LocalPostgres(ManagedServer):
    """One PostgreSQL server in a temporary folder, removed when it stops.

    Attributes:
        port: Its TCP port on 127.0.0.1.
    """

    def __init__(self, *, fsync: bool = True) -> None:
        self.port = free_port()
        self._fsync = fsync
        self._folder = Path(tempfile.mkdtemp(prefix="telecare-pg-"))
        self._data = self._folder / "data"
        self._socket_dir = self._folder / "socket"
        self._process: subprocess.Popen[bytes] | None = None
        self._user = SUPERUSER if os.geteuid() == 0 else getpass.getuser()

    def dsn(self, database: str = "postgres") -> str:
        """A libpq URL for `database` on this server."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """initdb, start the server, wait until it accepts connections.

        Raises:
            PortInUseError: the port was taken at every try; names it.
            ServerStartError: initdb failed, or the server exited or was not ready; quotes why.
        """
        bindir = postgres_bindir()
        self._socket_dir.mkdir(parents=True)
        if os.geteuid() == 0:
            account = pwd.getpwnam(SUPERUSER)
            for path in (self._folder, self._socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(self._data),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        start_on_fresh_ports(self._start_server, what="PostgreSQL")

    def _start_server(self, attempt: int) -> None:
        if attempt > 1:
            self.port = free_port()
        bindir = postgres_bindir()
        command = [
            str(bindir / "postgres"),
            "-D",
            str(self._data),
            "-p",
            str(self.port),
            "-k",
            str(self._socket_dir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            f"fsync={'on' if self._fsync else 'off'}",
            "-c",
            "max_connections=300",
        ]
        log = (self._folder / "postgres.log").open("wb")
        self._process = subprocess.Popen(  # noqa: S603
            command, stdout=log, stderr=subprocess.STDOUT, user=self._user
        )
        log.close()
        wait_for(self._accepting, timeout_s=START_TIMEOUT_S, what="PostgreSQL")

    def stop(self) -> None:
        """Stop the server (a fast shutdown) and remove its folder."""
        stop(self._process, 2)  # SIGINT: PostgreSQL's "fast" shutdown
        self._process = None
        shutil.rmtree(self._folder, ignore_errors=True)

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(  # noqa: S603
            command, capture_output=True, text=True, user=self._user, check=False
        )
        if done.returncode != 0:
            msg = f"{Path(command[0]).name} failed: {done.stderr.strip()[-500:]}"
            raise ServerStartError(msg)

    def _accepting(self) -> bool:
        """The server is up and past recovery: a startup packet gets an answer."""
        if self._process is not None and self._process.poll() is not None:
            log = (self._folder / "postgres.log").read_text(errors="replace")
            taken = port_in_use(log, "PostgreSQL", {"TCP": self.port})
            raise taken or ServerStartError(f"PostgreSQL exited: {log[-500:]}")
        # Two seconds at most a look (libpq's least): what took the port may never answer.
        with contextlib.suppress(OSError):
            ready = subprocess.run(  # noqa: S603
                [
                    str(postgres_bindir() / "pg_isready"),
                    *("-h", "127.0.0.1", "-p", str(self.port), "-t", "2"),
                ],
                capture_output=True,
                check=False,
            )
            return ready.returncode == 0
        return False
