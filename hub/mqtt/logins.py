"""Broker logins for native devices: each device its own user, confined by the ACL.

The installed Mosquitto (see deploy/raspberrypi/) lets a device publish only its own topics; its
username is its device id. Pairing adds the login and reloads Mosquitto; removal deletes it.
"""

import logging
import secrets
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger("telecare.hub")
PASSWORD_FILE = Path("/etc/mosquitto/telecare.passwd")


class BrokerLoginError(Exception):
    """The broker's password file could not be changed."""


def add_login(device_id: str, password_file: Path) -> str:
    """Create (or replace) the device's login; returns its new password, to enter in the device."""
    secret = secrets.token_urlsafe(18)
    _passwd(password_file, "-b", str(password_file), device_id, secret)
    _reload(password_file)
    return secret


def remove_login(device_id: str, password_file: Path) -> None:
    """Delete the device's login, so a removed device can no longer publish."""
    _passwd(password_file, "-D", str(password_file), device_id)
    _reload(password_file)


def _passwd(password_file: Path, *args: str) -> None:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        msg = "mosquitto_passwd is not installed (apt-get install mosquitto)"
        raise BrokerLoginError(msg)
    if not password_file.exists():
        msg = f"{password_file} does not exist (run deploy/raspberrypi/install.sh)"
        raise BrokerLoginError(msg)
    done = subprocess.run([tool, *args], capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        msg = f"mosquitto_passwd failed: {(done.stderr or done.stdout).strip()[:200]}"
        raise BrokerLoginError(msg)


def _reload(password_file: Path) -> None:
    """Ask the installed Mosquitto to re-read its password file (not for a staging copy)."""
    systemctl = shutil.which("systemctl")
    if password_file != PASSWORD_FILE or systemctl is None:
        return
    done = subprocess.run(  # noqa: S603
        [systemctl, "reload", "mosquitto"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        log.warning("could not reload mosquitto: %s", done.stderr.strip()[:200])
