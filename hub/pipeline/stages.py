"""How long each message spends in each stage of the event path: the hub's latency budget.

For each message the event path decodes, on its path (`alarm`: a pendant's, pull-cord's or smoke
alarm's, taken first; `telemetry`: everything else):

  read      from the wake-up that read its packet off the broker's socket to the event path
            taking it: paho's parsing, and the wait in the inbox and for its batch to start
  decode    its driver's decoding into events
  engine    the engine's evaluation of those events
  store     the commit of its batch (events, incident changes and outbox entries in one
            transaction), which every message of the batch waits for whole
  total     from read to the end of its batch's commit: the stages above, and the wait for the
            other messages of its batch (the time the hub gives the event loop between them)

and for each incident's first notification of a commit:

  dispatch  from the commit to its channel beginning the send (the lane's queue, the turns of
            the loop); the request's making and its way to the provider follow

Each is a histogram with fixed buckets, exposed on `/metrics` as `telecare_stage_seconds`.
Recording one costs a `time.perf_counter_ns()` and a bisect of the buckets, a microsecond or
two per message in all (`bench.perf` prints the budget; docs/PERFORMANCE.md says what it costs).
"""

from bisect import bisect_left
from collections.abc import Iterator
from time import perf_counter_ns
from typing import Literal

PathName = Literal["alarm", "telemetry"]
PATHS: tuple[PathName, ...] = ("alarm", "telemetry")
MESSAGE_STAGES = ("read", "decode", "engine", "store", "total")
DISPATCH_PATH = "notification"  # a notification's own stage: it is no message's
# Upper bounds of the buckets in nanoseconds: 1, 2, 3, 5 and 7 of each power of ten, 1 us to 7 s.
BOUNDS_NS: tuple[int, ...] = tuple(m * 10**e for e in range(3, 10) for m in (1, 2, 3, 5, 7))


class Histogram:
    """Observations counted in the buckets of `BOUNDS_NS`, the last one for anything longer."""

    __slots__ = ("counts", "sum_ns")

    def __init__(self) -> None:
        self.counts = [0] * (len(BOUNDS_NS) + 1)
        self.sum_ns = 0

    def observe(self, ns: int, times: int = 1) -> None:
        """Count `times` observations of `ns` nanoseconds each."""
        self.counts[bisect_left(BOUNDS_NS, ns)] += times
        self.sum_ns += ns * times

    @property
    def count(self) -> int:
        """How many observations there have been."""
        return sum(self.counts)


class PathTimings:
    """The histograms of one path's message stages."""

    __slots__ = ("decode", "engine", "read", "store", "total")

    def __init__(self) -> None:
        self.read = Histogram()
        self.decode = Histogram()
        self.engine = Histogram()
        self.store = Histogram()
        self.total = Histogram()


class BatchClock:
    """Times the messages of one batch as the event path decodes and commits them."""

    __slots__ = ("_decoded", "_path", "_received")

    def __init__(self, path: PathTimings) -> None:
        self._path = path
        self._received: list[int] = []
        self._decoded = 0

    def decoded(self, received_ns: int, started_ns: int, decoded_ns: int) -> None:
        """A message read at `received_ns` was decoded from `started_ns` to `decoded_ns`.

        Its evaluation by the engine ends now. A message with no read stamp (0) counts for
        decode, engine and store only.
        """
        evaluated = perf_counter_ns()
        path = self._path
        path.decode.observe(decoded_ns - started_ns)
        path.engine.observe(evaluated - decoded_ns)
        self._decoded += 1
        if received_ns:
            path.read.observe(started_ns - received_ns)
            self._received.append(received_ns)

    def committed(self, started_ns: int | None) -> None:
        """The batch's commit, begun at `started_ns` (None: nothing to commit), ends now."""
        ended = perf_counter_ns()
        path = self._path
        if started_ns is not None and self._decoded:
            path.store.observe(ended - started_ns, self._decoded)
        for received in self._received:
            path.total.observe(ended - received)


class StageTimings:
    """Every stage's histogram, for `/metrics`."""

    def __init__(self) -> None:
        self.paths: dict[PathName, PathTimings] = {path: PathTimings() for path in PATHS}
        self.dispatch = Histogram()

    def batch(self, *, alarms: bool) -> BatchClock:
        """A clock for the next batch of the alarm or the telemetry path."""
        return BatchClock(self.paths["alarm" if alarms else "telemetry"])

    def series(self) -> Iterator[tuple[str, str, Histogram]]:
        """(path, stage, histogram) of every stage, message stages first."""
        for path, timings in self.paths.items():
            for stage in MESSAGE_STAGES:
                yield path, stage, getattr(timings, stage)
        yield DISPATCH_PATH, "dispatch", self.dispatch
