"""Dashboard commands: `telecare web hash-passcode` and `telecare web link`."""

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from hub.cli.options import config_option, fail, load_or_exit
from hub.cli.report import parse_period
from hub.config.file import HubConfig
from hub.store.errors import StoreError
from hub.store.store import Store


@click.group()
def web() -> None:
    """The carer's dashboard and API."""


@web.command("hash-passcode")
def hash_passcode_command() -> None:
    """Ask for a dashboard passcode (twice) and print its argon2id hash for the config file.

    Put the printed line in a `[[web.logins]]` entry as `passcode_hash = "..."`. The passcode
    itself is never stored.
    """
    # argon2 is loaded by this command (and the dashboard), not by every command.
    from hub.web.passcodes import WeakPasscodeError, hash_passcode  # noqa: PLC0415

    passcode: str = click.prompt(
        "Passcode", hide_input=True, confirmation_prompt=True, err=True, type=str
    )
    try:
        hashed = hash_passcode(passcode)
    except WeakPasscodeError as err:
        click.echo(f"telecare: {err}", err=True)
        sys.exit(2)
    click.echo(hashed)


@web.command("link")
@click.option("--contact", required=True, help="The contact it logs in (a [[contacts]] name).")
@click.option(
    "--expires",
    default="24h",
    show_default=True,
    help="How long it works if unused: 24h, 2d ... (at most 7d).",
)
@config_option
def link(contact: str, expires: str, config_path: Path) -> None:
    """Print a one-time login link for CONTACT, to send them (by SMS or WhatsApp).

    It logs them in once as a carer, so what they acknowledge carries their name. It names
    nobody, works once, and expires; only a hash of it is kept. The link starts with
    `[web] base_url` if set, else the dashboard's host and port.
    """
    # argon2 is loaded by this command (and the dashboard), not by every command.
    from hub.web.login_links import LinkRefusedError, make_link  # noqa: PLC0415

    lifetime = parse_period(expires)
    config = load_or_exit(config_path)
    if all(c.name != contact for c in config.contacts):
        known = ", ".join(c.name for c in config.contacts) or "none"
        fail(f"no contact {contact!r} in {config_path} (contacts: {known})", code=2)

    async def make() -> str:
        async with Store.open(config.store.path) as store:
            return await make_link(
                store, contact, lifetime=lifetime, now=datetime.now(UTC), base=_base(config)
            )

    try:
        url = asyncio.run(make())
    except LinkRefusedError as err:
        fail(str(err), code=2)
    except StoreError as err:
        fail(str(err), code=1)
    click.echo(url)


def _base(config: HubConfig) -> str:
    web = config.web
    if web.base_url is not None:
        return str(web.base_url)
    scheme = "https" if web.certfile is not None else "http"
    return f"{scheme}://{web.host}:{web.port}"
