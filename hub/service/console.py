"""How the hub talks on the terminal and the journal: one readable line per happening."""

import logging
import sys

_NAMES = {
    "telecare.hub": "hub",
    "telecare.intake": "intake",
    "telecare.notify": "NOTIFY",
    "telecare.mqtt": "mqtt",
    "telecare.store": "store",
    "telecare.sim": "device",
    "telecare.broker": "broker",
}


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        where = _NAMES.get(record.name, record.name)
        elapsed = record.relativeCreated / 1000
        line = f"[{elapsed:7.2f}s] {where:<7} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(*, verbose: bool = False) -> None:
    """Send the hub's log to stderr, one line per event, incident and notification."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("telecare").setLevel(logging.DEBUG if verbose else logging.INFO)
