"""What a carer can text back to the hub: `OK`/`ACK [n]`, `STATUS`, `HOME`/`AWAY`, `HELP`."""

import re
from dataclasses import dataclass
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
