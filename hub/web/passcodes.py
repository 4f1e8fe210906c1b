"""Dashboard passcodes: argon2id hashes in the configuration, never the passcodes themselves."""

from collections.abc import Sequence

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.config.sections import WebLogin

# OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane): affordable on a Pi Zero 2 W with 512 MB.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSCODE_LENGTH = 6


class WeakPasscodeError(ValueError):
    """The passcode is too short to resist guessing, even rate-limited."""


def hash_passcode(passcode: str) -> str:
    """The argon2id hash to put in `[[web.logins]] passcode_hash`.

    Raises:
        WeakPasscodeError: shorter than `MIN_PASSCODE_LENGTH` characters.
    """
    if len(passcode) < MIN_PASSCODE_LENGTH:
        msg = f"a passcode needs at least {MIN_PASSCODE_LENGTH} characters"
        raise WeakPasscodeError(msg)
    return HASHER.hash(passcode)


def match_login(logins: Sequence[WebLogin], passcode: str) -> WebLogin | None:
    """The login whose hash the passcode matches, or None. Slow on purpose: run off the loop."""
    found = None
    for login in logins:
        try:
            HASHER.verify(login.passcode_hash.get_secret_value(), passcode)
        except (VerificationError, InvalidHashError):
            continue
        found = found or login
    return found
