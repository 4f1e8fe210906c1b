"""What a carer can text back to the hub: `OK`/`ACK [n]`, `STATUS`, `HOME`/`AWAY`, `HELP`."""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

ReplyKind = Literal["ack", "status", "home", "away", "help", "unknown"]
HELP_TEXT = (
    "Telecare hub: reply OK (or ACK 12 for incident 12) if you are dealing with an alarm,"
    " STATUS for how things are at home, HOME or AWAY to say whether someone is with Mum,"
    " HELP for this message."
)
_ACK = re.compile(r"^(?:OK|ACK)(?:\s+#?(\d{1,6}))?[.!]*$")


@dataclass(frozen=True, slots=True)
class Reply:
    """A parsed SMS reply; `incident` is the number in `ACK 12`, if given."""

    kind: ReplyKind
    incident: int | None = None


def parse_reply(body: str) -> Reply:
    """Read a reply leniently: case, spacing and a trailing full stop do not matter."""
    words = " ".join(body.upper().split())
    if match := _ACK.match(words):
        number = match.group(1)
        return Reply("ack", int(number) if number else None)
    keywords: tuple[ReplyKind, ...] = ("status", "home", "away", "help")
    for kind in keywords:
        if words.rstrip(".!?") == kind.upper():
            return Reply(kind)
    return Reply("unknown")


@dataclass(frozen=True, slots=True)
class Standing:
    """Where an alarm stands when someone's acknowledgement of it did not take.

    Attributes:
        state: The incident's state (`rules.incidents.IncidentState`), None if it is unknown.
        by: Who is down as dealing with it, while it is acknowledged.
        since: When they acknowledged it, in the home's clock.
    """

    state: str | None
    by: str | None = None
    since: datetime | None = None


CLOSED_STATES = frozenset({"resolved", "cancelled", "suppressed"})


def not_taken_text(standing: Standing, contact: str) -> str:
    """The truthful answer to an `OK` that did not take: who is on it since when, or it is over."""
    since = f" (since {standing.since:%H:%M})" if standing.since is not None else ""
    if standing.state == "acknowledged" and standing.by == contact:
        return f"You are already down as dealing with it{since}."
    if standing.state == "acknowledged" and standing.by is not None:
        return f"{standing.by} is already dealing with it{since}."
    if standing.state is None or standing.state in CLOSED_STATES:
        return "That alarm is over."
    return "Your OK did not take: the alarm has just changed. Reply STATUS to see how things are."
