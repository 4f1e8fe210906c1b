"""Operators' passwords: argon2id hashes in the `operators` table, never the passwords."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane), as the hub's dashboard uses.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_PASSWORD_LENGTH = 10
# Checked when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = HASHER.hash("not-a-password-of-anyone")


class WeakPasswordError(ValueError):
    """The password is too short for an account that can see every home."""


def hash_password(password: str) -> str:
    """The argon2id hash to store in `operators.password_hash`.

    Raises:
        WeakPasswordError: shorter than `MIN_PASSWORD_LENGTH` characters.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        msg = f"an operator's password needs at least {MIN_PASSWORD_LENGTH} characters"
        raise WeakPasswordError(msg)
    return HASHER.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one `password_hash` was made from. Slow on purpose: off the loop.

    A missing hash (unknown username) is checked against a dummy one, so timing does not tell
    which usernames exist.
    """
    try:
        HASHER.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return password_hash is not None
