"""Real filesystems for disk fault tests: a tiny tmpfs to fill, an ext4 card that turns read-only.

Mounting needs root. CI runs as root, so there these tests must run; elsewhere they are skipped.
"""

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def mount(*args: str) -> None:
    """`mount` with these arguments; raises if it fails."""
    subprocess.run(["mount", *args], check=True, capture_output=True, text=True)


def unmount(target: Path) -> None:
    """Detach a test filesystem (lazily: a process may still hold a file on it)."""
    subprocess.run(["umount", "--lazy", str(target)], check=False, capture_output=True)


def need_mount(tmp_path: Path) -> None:
    """Mounting needs root; CI runs as root, so there the tests must run."""
    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        mount("-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe))
    except (OSError, subprocess.CalledProcessError) as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the disk fault tests, and mount fails: {err}")
        pytest.skip(f"needs root to mount a test filesystem: {err}")
    unmount(probe)


@contextmanager
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs of its own: fill it and the disk is full."""
    need_mount(tmp_path)
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk))
    try:
        yield disk
    finally:
        unmount(disk)


@contextmanager
def ext4_card(tmp_path: Path) -> Iterator[Path]:
    """An ext4 filesystem on a loop device, mounted `errors=remount-ro` as on a Pi's SD card.

    Its image is `tmp_path / "card.img"`.
    """
    need_mount(tmp_path)
    image = tmp_path / "card.img"
    with image.open("wb") as card:
        card.truncate(8 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    disk = tmp_path / "card"
    disk.mkdir()
    mount("-o", "loop,errors=remount-ro", str(image), str(disk))
    try:
        yield disk
    finally:
        unmount(disk)


def fill(disk: Path) -> Path:
    """Write a file until the filesystem has no space left; returns it."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:  # unbuffered: nothing is left to flush
        try:
            while out.write(chunk):
                pass
        except OSError as err:
            assert err.errno == errno.ENOSPC, err
    return filler


def turn_read_only(disk: Path) -> None:
    """What ext4 does on an SD card error: with `errors=remount-ro` it goes read-only at once.

    ext4's own test hook (`trigger_fs_error` in sysfs) raises the error; nothing else is faked.
    """
    source = subprocess.run(
        ["findmnt", "-n", "-o", "SOURCE", str(disk)], check=True, capture_output=True, text=True
    ).stdout.strip()
    Path(f"/sys/fs/ext4/{Path(source).name}/trigger_fs_error").write_text("test fault\n")


def repair(disk: Path, image: Path) -> None:
    """As after a reboot: unmount, check and repair, mount again."""
    subprocess.run(["umount", str(disk)], check=True)
    checked = subprocess.run(["e2fsck", "-fy", str(image)], check=False, capture_output=True)
    assert checked.returncode in {0, 1}, checked.stdout  # 1: errors were corrected
    mount("-o", "loop,errors=remount-ro", str(image), str(disk))
