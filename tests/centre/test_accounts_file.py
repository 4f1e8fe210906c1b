"""The brokers reload their users only when the users change, not each time the centre starts."""

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from centre.registry import AccountsFile
from centre.servers.natsconf import password_hash

HUBS = {"home-a": password_hash("a-secret")}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A stand-in for a nats-server: a process that SIGHUP ends, and its pid file."""
    process = subprocess.Popen(["sleep", "600"])
    pid_file = tmp_path / "nats.pid"
    pid_file.write_text(f"{process.pid}\n")
    yield process, pid_file
    process.kill()
    process.wait()


def _reloaded(process: subprocess.Popen[bytes]) -> bool:
    try:
        process.wait(timeout=2)
    except subprocess.TimeoutExpired:
        return False
    return True


async def test_a_centre_restarted_with_the_same_hubs_reloads_no_broker(
    tmp_path: Path, node: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, pid_file = node
    path = tmp_path / "accounts.conf"
    await AccountsFile(path, "centre", "centre-secret")(HUBS)  # the first start: written
    written = path.read_text()

    restarted = AccountsFile(path, "centre", "centre-secret", [pid_file])
    await restarted(HUBS)
    await restarted(HUBS)

    assert path.read_text() == written, "the centre's hash is kept, though bcrypt salts anew"
    assert not _reloaded(process)


async def test_a_new_hub_or_a_new_centre_password_reloads_the_brokers(
    tmp_path: Path, node: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, pid_file = node
    path = tmp_path / "accounts.conf"
    await AccountsFile(path, "centre", "centre-secret")(HUBS)
    written = path.read_text()

    await AccountsFile(path, "centre", "another-secret", [pid_file])(HUBS)

    assert path.read_text() != written
    assert _reloaded(process)


async def test_a_hub_added_is_written_and_reloaded(
    tmp_path: Path, node: tuple[subprocess.Popen[bytes], Path]
) -> None:
    process, pid_file = node
    path = tmp_path / "accounts.conf"
    users = AccountsFile(path, "centre", "centre-secret", [pid_file])
    (tmp_path / "accounts.conf").write_text("accounts: {not json at all")  # hand-edited, say

    await users({**HUBS, "home-b": password_hash("b-secret")})

    assert '"user": "home-b"' in path.read_text()
    assert _reloaded(process)
