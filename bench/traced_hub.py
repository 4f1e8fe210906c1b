"""The hub, with the moments of its alarm path noted: `python -m bench.traced_hub run --config F`.

The same process as `python -m hub` (bench.timeline starts it so), with four of the event
path's steps wrapped to note, on the system's monotonic clock (which the bench's publisher and
stand-ins read too, in processes of their own):

  batch     for each batch of alarms: when each of its messages was read off the socket, when
            the batch began, when its commit began and ended
  send      each push's send beginning (`NtfyChannel.send`), with the start of its text

SIGUSR1 writes what was noted since the last one, as JSON, to the file `TELECARE_TIMELINE`
names, and forgets it. The wrappers cost a few microseconds an alarm; the figures are the
hub's own, not the stand-ins'.
"""

import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hub.cli import main
from hub.pipeline.pipeline import Pipeline
from hub.store.store import Batch
from notifier.channels.ntfy import NtfyChannel
from notifier.model import Delivery, OutboxEntry
from wire.schema import InboundMessage

ENV = "TELECARE_TIMELINE"
TEXT_CHARS = 40  # of each push's text: enough to tell the alerts' kinds apart

# The read time of a message is taken with `perf_counter_ns`: moved onto the monotonic clock.
_OFFSET_NS = time.monotonic_ns() - time.perf_counter_ns()


class Notes:
    """What the wrapped steps noted, until the next dump."""

    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []
        self.sends: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None

    def batch_began(self, messages: Sequence[InboundMessage]) -> dict[str, Any]:
        read = [m.received_ns + _OFFSET_NS if m.received_ns else None for m in messages]
        self._open = {"read_ns": read, "began_ns": time.monotonic_ns()}
        return self._open

    def commit(self, began_ns: int) -> None:
        if self._open is not None:
            self._open.update(commit_ns=began_ns, committed_ns=time.monotonic_ns())

    def batch_ended(self, noted: dict[str, Any]) -> None:
        self._open = None
        if "commit_ns" in noted:  # a batch with nothing to write sends nothing either
            self.batches.append(noted)

    def send(self, entry: OutboxEntry) -> None:
        self.sends.append({"at_ns": time.monotonic_ns(), "text": entry.text[:TEXT_CHARS]})

    def dump(self, path: Path) -> None:
        written = path.with_suffix(".tmp")
        written.write_text(json.dumps({"batches": self.batches, "sends": self.sends}))
        written.replace(path)  # whole, for the bench that waits for it
        self.batches, self.sends = [], []


def install(notes: Notes) -> None:
    """Wrap the alarm path's steps so that each notes its moments in `notes`."""
    handle_batch = Pipeline._handle_batch
    commit = Pipeline._commit
    send = NtfyChannel.send

    async def traced_batch(
        self: Pipeline, messages: Sequence[InboundMessage], *, alarms: bool = False
    ) -> None:
        if not alarms:
            await handle_batch(self, messages)
            return
        noted = notes.batch_began(messages)
        try:
            await handle_batch(self, messages, alarms=True)
        finally:
            notes.batch_ended(noted)

    async def traced_commit(
        self: Pipeline, batch: Batch, **kwargs: Any
    ) -> tuple[list[OutboxEntry], list[InboundMessage]]:
        began = time.monotonic_ns()
        try:
            return await commit(self, batch, **kwargs)
        finally:
            if batch.alarms:
                notes.commit(began)

    async def traced_send(self: NtfyChannel, entry: OutboxEntry) -> Delivery:
        notes.send(entry)
        return await send(self, entry)

    setattr(Pipeline, "_handle_batch", traced_batch)  # noqa: B010  # mypy: no method assignment
    setattr(Pipeline, "_commit", traced_commit)  # noqa: B010
    setattr(NtfyChannel, "send", traced_send)  # noqa: B010


def _on_signal(notes: Notes, path: Path) -> Callable[[int, Any], None]:
    def dump(_signum: int, _frame: Any) -> None:
        notes.dump(path)

    return dump


if __name__ == "__main__":
    target = os.environ.get(ENV)
    if not target:
        raise SystemExit(f"set {ENV} to the file the timeline is written to")
    noted = Notes()
    install(noted)
    signal.signal(signal.SIGUSR1, _on_signal(noted, Path(target)))
    main()
