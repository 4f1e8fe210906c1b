"""Installer commands for the service itself: `telecare doctor`, `telecare backup`."""

import sys
from pathlib import Path

import click

from hub.cli.doctor import examine
from hub.cli.options import config_option, load_or_exit
from hub.store.backup import back_up
from hub.store.errors import StoreError


@click.command()
@config_option
def doctor(config_path: Path) -> None:
    """Check broker, store, disk, clock, GPIO and channels; say what to fix (exit 1 if any)."""
    config = load_or_exit(config_path)
    problems = 0
    for finding in examine(config):
        mark = "ok     " if finding.ok else "PROBLEM"
        click.echo(f"{mark}  {finding.check:<9} {finding.detail}")
        if not finding.ok:
            problems += 1
            if finding.fix:
                click.echo(f"{'':9}  {'':<9} fix: {finding.fix}")
    click.echo("all checks passed" if problems == 0 else f"{problems} problem(s) found")
    sys.exit(1 if problems else 0)


@click.command()
@config_option
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for the backups.",
)
@click.option("--keep", type=click.IntRange(min=1), default=14, show_default=True)
def backup(config_path: Path, out: Path, keep: int) -> None:
    """Copy the database while the hub runs (SQLite online backup); keep the newest N."""
    config = load_or_exit(config_path)
    try:
        target = back_up(config.store.path, out, keep=keep)
    except StoreError as err:
        click.echo(f"telecare: {err}", err=True)
        sys.exit(1)
    click.echo(f"backed up to {target}")
