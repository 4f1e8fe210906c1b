"""One-time login links for contacts (`telecare web link`): the secret is kept only hashed.

A link is `<base>/login/link/<id>.<secret>`: the id finds the stored link, the secret proves it
(argon2id, as passcodes). It names nobody, works once, and expires. Opening it shows a button;
only pressing that logs in, so a phone's link preview cannot use it up.
"""

import re
import secrets
from datetime import datetime, timedelta

from argon2.exceptions import InvalidHashError, VerificationError

from hub.store.store import Store
from hub.web.passcodes import HASHER

LINK_PATH = "/login/link/"
MAX_LIFETIME = timedelta(days=7)
_TOKEN = re.compile(r"^([1-9][0-9]{0,17})\.([A-Za-z0-9_-]{43})$")


class LinkRefusedError(ValueError):
    """The link cannot be made as asked; the message says why."""


async def make_link(
    store: Store, contact: str, *, lifetime: timedelta, now: datetime, base: str
) -> str:
    """Keep a new link for `contact` and return its URL (the only place the secret appears).

    Raises:
        LinkRefusedError: a lifetime that is not positive or longer than `MAX_LIFETIME`.
    """
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        msg = f"a link must expire within {MAX_LIFETIME.days} days, and after some time"
        raise LinkRefusedError(msg)
    secret = secrets.token_urlsafe(32)
    link_id = await store.add_login_link(
        contact, HASHER.hash(secret), at=now, expires_at=now + lifetime
    )
    return f"{base.rstrip('/')}{LINK_PATH}{link_id}.{secret}"


def split_token(token: str) -> tuple[int, str] | None:
    """The link id and secret in a token, or None if it is not shaped like one."""
    found = _TOKEN.match(token)
    return (int(found.group(1)), found.group(2)) if found else None


def secret_matches(secret_hash: str, secret: str) -> bool:
    """Whether the secret is the one hashed. Slow on purpose: run it off the event loop."""
    try:
        return HASHER.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False
