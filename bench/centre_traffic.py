"""The simulated hubs' traffic in bench/centre.py: heartbeats, now and then an incident."""

import asyncio
import time
from datetime import UTC, datetime

from bench.centre_checks import Sent
from centre.simhub import SimulatedHub
from wire.uplink import UplinkEnvelope


class Traffic:
    """Heartbeats from every hub every `beat_s`, an unanswered incident now and then.

    Attributes:
        sent: Every message the stream confirmed, in the order confirmed.
        failed: Publishes the stream did not confirm (it may have taken some).
    """

    def __init__(self, hubs: list[SimulatedHub], beat_s: float) -> None:
        self.hubs = hubs
        self.beat_s = beat_s
        self.sent: list[Sent] = []
        self.failed = 0
        self.pressed: dict[str, datetime] = {}
        self.silenced: set[str] = set()
        self._until = 0.0

    async def run(self, seconds: float) -> None:
        """Send a round every `beat_s` for `seconds`, or until `stop()`."""
        self._until = time.monotonic() + seconds
        rounds = 0
        while time.monotonic() < self._until:
            started = time.monotonic()
            await asyncio.gather(*(self._one(hub, rounds) for hub in self.hubs))
            rounds += 1
            next_round = min(self._until, started + self.beat_s)
            await asyncio.sleep(max(0.0, next_round - time.monotonic()))

    def stop(self) -> None:
        """End `run()` after the round under way."""
        self._until = 0.0

    async def _one(self, hub: SimulatedHub, rounds: int) -> None:
        if hub.hub_id in self.silenced:
            return
        try:
            self._confirmed(await hub.heartbeat())
            if hash((hub.hub_id, rounds)) % 50 == 0:  # one press in 50 heartbeats
                incident = f"{hub.hub_id}-{rounds}"
                self.pressed[incident] = datetime.now(UTC)
                self._confirmed(await hub.incident(incident, "firing", family_exhausted=True))
        except Exception:  # a publish the stream did not confirm; counted
            self.failed += 1

    def _confirmed(self, envelope: UplinkEnvelope) -> None:
        self.sent.append(Sent(envelope.hub_id, envelope.seq, envelope.sent_at))
