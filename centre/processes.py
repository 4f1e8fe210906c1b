"""`telecare centre run --workers N`: the worker processes it keeps, and stopping on a signal.

`run --workers N` is N workers sharing the uplink's partitions: the centre process itself (slot
0) and N - 1 worker processes (`telecare centre worker --slot K`) that it starts once the centre
is ready, watches and stops.

- A worker process that exits while the centre runs (killed, crashed, out of memory) is started
  again: at once if it had run `STEADY_RUN_S`, else after a pause that doubles from
  `FIRST_PAUSE_S` to `LONGEST_PAUSE_S`, so a worker that cannot start does not spin. What it had
  fetched and not acknowledged is delivered again after the consumer's ack wait, and written once.
- SIGTERM or SIGINT stops the centre: its worker processes get SIGTERM and `STOP_TIMEOUT_S` to
  finish, then SIGKILL; the centre exits once every one of them is gone.
- A worker process whose centre is gone without stopping it (SIGKILL) stops by itself within
  `PARENT_POLL_S`.
"""

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Coroutine, Sequence
from typing import Any

log = logging.getLogger("telecare.centre.processes")
STOP_TIMEOUT_S = 20.0
PARENT_POLL_S = 1.0
STEADY_RUN_S = 60.0
FIRST_PAUSE_S = 1.0
LONGEST_PAUSE_S = 30.0


def restart_pause(previous_s: float, ran_s: float) -> float:
    """Seconds to wait before starting again a worker process that ran `ran_s` and exited."""
    if ran_s >= STEADY_RUN_S:
        return 0.0
    return min(max(2 * previous_s, FIRST_PAUSE_S), LONGEST_PAUSE_S)


def _how(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit status {returncode}"


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `STOP_TIMEOUT_S`; wait for it."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await process.wait()
    except TimeoutError:
        log.warning("worker process %d not stopped in %.0f s: killed", process.pid, STOP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


class WorkerProcesses:
    """Keeps `count` processes running `command` until cancelled, then stops them all.

    Each is told its slot (`--slot 1` to `--slot count`); one started in place of another
    takes its slot, and with it the same partitions of the uplink.

    Attributes:
        pids: The process id in each slot, while it runs.
    """

    def __init__(self, command: Sequence[str], count: int) -> None:
        self._command = list(command)
        self.count = count
        self.pids: dict[int, int] = {}

    async def run(self) -> None:
        """Start the processes and keep them running until cancelled."""
        async with asyncio.TaskGroup() as group:
            for slot in range(1, self.count + 1):
                group.create_task(self._keep(slot), name=f"centre-worker-process-{slot}")

    async def _keep(self, slot: int) -> None:
        pause_s = 0.0
        while True:
            started = time.monotonic()
            process = await asyncio.create_subprocess_exec(*self._command, "--slot", str(slot))
            self.pids[slot] = process.pid
            try:
                returncode = await process.wait()
            finally:  # cancelled: the centre is stopping, and this process with it
                await stop_process(process)
                self.pids.pop(slot, None)
            pause_s = restart_pause(pause_s, time.monotonic() - started)
            log.warning(
                "worker process %d (pid %d) ended (%s); starting another in %.0f s",
                slot, process.pid, _how(returncode), pause_s,
            )  # fmt: skip
            await asyncio.sleep(pause_s)


async def until_stopped(work: Coroutine[Any, Any, None], *, parent_pid: int | None = None) -> None:
    """Run `work` until it ends, SIGTERM or SIGINT comes, or the process `parent_pid` is gone.

    Whichever comes first, `work` is cancelled and awaited: its cleanup runs to the end.

    Raises:
        Exception: whatever `work` raised on its own.
    """
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, signum, stopping)
    task = asyncio.create_task(work, name="centre")
    watch = asyncio.create_task(_stop_requested(stopping, parent_pid), name="centre-stop")
    try:
        await asyncio.wait([task, watch], return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # raises what `work` raised itself
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _on_signal(signum: signal.Signals, stopping: asyncio.Event) -> None:
    log.info("%s: stopping", signum.name)
    stopping.set()


async def _stop_requested(stopping: asyncio.Event, parent_pid: int | None) -> None:
    while not stopping.is_set():
        if parent_pid is not None and os.getppid() != parent_pid:
            log.warning("the centre (pid %d) is gone; this worker stops", parent_pid)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PARENT_POLL_S):
                await stopping.wait()
