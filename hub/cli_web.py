"""Dashboard commands: `telecare web hash-passcode`."""

import sys

import click


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
