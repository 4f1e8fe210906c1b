"""Counting and logging what the hub refuses, without flooding the log."""

import logging
from collections import Counter

log = logging.getLogger("telecare.intake")
MAX_LOGGED_KEYS = 1000


class RejectLog:
    """Counts dropped inputs by cause; logs the first of each cause per topic."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._logged: set[tuple[str, str]] = set()

    def reject(self, cause: str, topic: str, detail: str) -> None:
        """Count one dropped message and log it if this cause is new for this topic."""
        self.counts[cause] += 1
        key = (cause, topic)
        if key in self._logged or len(self._logged) >= MAX_LOGGED_KEYS:
            return
        self._logged.add(key)
        # Topics and details come from the broker: repr keeps a newline in one from forging lines.
        log.warning(
            "dropped message on %r: %s (%r); further ones are counted", topic, cause, detail
        )
