"""Login attempts: too many failures, per client or overall, close the door for a while."""

import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

FAILURE_WINDOW_S = 15 * 60.0


@dataclass(slots=True)
class LoginLimiter:
    """Refuses login attempts after too many failures, per client and overall, in a window."""

    per_client: int = 5
    overall: int = 20
    window_s: float = FAILURE_WINDOW_S
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _overall: deque[float] = field(default_factory=deque)

    def allows(self, client: str) -> bool:
        """Whether `client` may try a password or passcode now."""
        cutoff = self.clock() - self.window_s
        for attempts in (*self._failures.values(), self._overall):
            while attempts and attempts[0] < cutoff:
                attempts.popleft()
        self._failures = {k: v for k, v in self._failures.items() if v}
        mine = self._failures.get(client, ())
        return len(mine) < self.per_client and len(self._overall) < self.overall

    def failed(self, client: str) -> None:
        """Count a wrong username, password or passcode."""
        now = self.clock()
        self._failures.setdefault(client, deque()).append(now)
        self._overall.append(now)


def same_token(given: str, expected: str) -> bool:
    """Compare a token from a request in constant time, whatever characters it holds."""
    return secrets.compare_digest(given.encode(), expected.encode())
