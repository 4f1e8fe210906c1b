"""The hub as a real process for benchmarks: start it, wait until ready, read its /proc figures."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

READY_LINE = "hub ready"
START_LIMIT_S = 60.0
CLOCK_TICKS_S = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    """CPU seconds and voluntary context switches (wake-ups) of every thread, at one moment."""

    at: float
    cpu_s: float
    wakeups: int


class HubUnderTest:
    """`python -m hub run --config CONFIG` with its log in a file next to the configuration.

    `module` runs another entry point with the hub's command line (`bench.traced_hub`).
    """

    def __init__(
        self, config: Path, *, env: dict[str, str] | None = None, module: str = "hub"
    ) -> None:
        self.config = config
        self._module = module
        self.log = config.with_suffix(".log")
        self._env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, "start the hub first"
        return self.process.pid

    def start(self) -> float:
        """Start the hub; returns the seconds from launch to its "hub ready" line."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        started = time.monotonic()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self._module, "run", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._env,
            )
        while READY_LINE not in self.log.read_text(errors="replace")[offset:]:
            if self.process.poll() is not None or time.monotonic() - started > START_LIMIT_S:
                self.process.kill()
                raise SystemExit(f"hub did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.005)
        return time.monotonic() - started

    def stop(self) -> tuple[int, float]:
        """SIGTERM and wait; returns the exit code and the seconds it took."""
        assert self.process is not None
        stopping = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        return code, time.monotonic() - stopping

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def status_kib(self, field: str) -> int:
        """A `VmRSS`/`VmHWM`-style figure (KiB) from /proc/PID/status."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise KeyError(field)

    def usage(self) -> Usage:
        """CPU time and voluntary context switches summed over the hub's threads."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_S  # utime, stime
        wakeups = 0
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                status = (task / "status").read_text()
            except FileNotFoundError:
                continue  # a thread that just ended
            for line in status.splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    wakeups += int(line.split()[1])
        return Usage(time.monotonic(), cpu_s, wakeups)
