"""A throwaway PostgreSQL for the console's tests: initdb into a temporary folder, free port.

PostgreSQL refuses to run as root, so under root the folder goes to the `postgres` user.
"""

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

BINDIR = Path("/usr/lib/postgresql/15/bin")
MIGRATIONS = Path(__file__).parents[3] / "centre" / "migrations"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def local_postgres() -> Iterator[str]:
    """A running server; yields the DSN of its `postgres` database."""
    folder = Path(tempfile.mkdtemp(prefix="console-pg-"))
    user = "postgres" if os.geteuid() == 0 else None
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(folder, account.pw_uid, account.pw_gid)
    data, port = folder / "data", _free_port()
    subprocess.run(
        [BINDIR / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync"],
        check=True, capture_output=True, user=user,
    )  # fmt: skip
    server = subprocess.Popen(
        [BINDIR / "postgres", "-D", data, "-p", str(port), "-k", folder,
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=user,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(
            [BINDIR / "pg_isready", "-h", "127.0.0.1", "-p", str(port)],
            check=False,
            capture_output=True,
        ).returncode:
            assert time.monotonic() < deadline, "PostgreSQL did not start"
            time.sleep(0.1)
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        server.send_signal(2)
        server.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def migrations() -> list[str]:
    """The schema's migration scripts, in order."""
    return [path.read_text() for path in sorted(MIGRATIONS.glob("*.sql"))]
