"""`telecare report`: the review report as one self-contained HTML file."""

import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from hub.cli.options import config_option, db_option, load_or_exit
from hub.store.errors import StoreError
from hub.store.store import Store
from rules.causes import causes

_PERIOD = re.compile(r"^(\d{1,4})([dh])$")


def parse_period(text: str) -> timedelta:
    """`7d` or `24h` as a duration.

    Raises:
        click.BadParameter: anything else.
    """
    found = _PERIOD.match(text.strip())
    if found is None or int(found.group(1)) == 0:
        msg = f"{text!r}: give a number of days or hours, such as 7d or 24h"
        raise click.BadParameter(msg)
    number = int(found.group(1))
    return timedelta(days=number) if found.group(2) == "d" else timedelta(hours=number)


@click.command()
@config_option
@db_option
@click.option("--since", "period", default="7d", show_default=True, help="Period: 7d, 24h ...")
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The HTML file to write.",
)
def report(config_path: Path, db_path: Path | None, period: str, out: Path) -> None:
    """Write the review report: incidents by kind and hour, false alarms, responses."""
    span = parse_period(period)
    config = load_or_exit(config_path)
    path = db_path or config.store.path
    if not path.is_file():
        click.echo(f"telecare: no hub database at {path} (has the hub run yet?)", err=True)
        sys.exit(1)
    until = datetime.now(UTC)

    async def read() -> str:
        # The report's templates (jinja2) are loaded by this command only, not by the service.
        from hub.review.report import gather, render_review  # noqa: PLC0415

        async with Store.open(path, readonly=True) as store:
            data = await gather(store, since=until - span, until=until)
        labels = {name: cause.label for name, cause in causes(config.policy).items()}
        return render_review(
            data, person=config.home.person, labels=labels, zone=config.home.timezone
        )

    try:
        html = asyncio.run(read())
    except StoreError as err:
        click.echo(f"telecare: {err}", err=True)
        sys.exit(1)
    out.write_text(html, encoding="utf-8")
    click.echo(f"report for the last {period} written to {out}")
