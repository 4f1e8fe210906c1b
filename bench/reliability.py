"""Run the fault, load and abuse tests and a soak; write docs/RELIABILITY.md from their figures.

Run: .venv/bin/python -m bench.reliability [--soak-minutes 5] [--out docs/RELIABILITY.md]

Every test module that records figures (it imports tests.support.reliability) is run with
TELECARE_RELIABILITY_OUT set, so each passing test appends its figures; then bench.soak runs for
`--soak-minutes` and appends its own. The document is rendered from those lines only: one table
per section, whatever sections and figures the tests recorded. Nothing is written if a test fails.
"""

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.reliability import RESULTS_ENV, load

ROOT = Path(__file__).resolve().parent.parent
RECORDER = "tests.support.reliability"
# From this line on the document is written by hand (what a figure means, a long run's story):
# rendering keeps it as it is.
BY_HAND = "<!-- written by hand from here on: bench/reliability.py keeps it -->"
SECTIONS = {
    "faults": (
        "Faults",
        "The real hub process (or the hub in process) and a real Mosquitto, broken on purpose.",
    ),
    "load": ("Load", "Bursts above the sustained rate, against the real hub and Mosquitto."),
    "soak": ("Soak", "bench/soak.py: steady load for a long time; is memory flat?"),
    "fuzz": (
        "Fuzzing",
        "Hypothesis over every decoder and every HTTP route; a crash fails the test.",
    ),
    "abuse": ("Hostile input", "Forged acknowledgements, strangers, spoofed topics."),
}


@dataclass(frozen=True)
class Run:
    """How the figures were made: command, when, where, and what pytest said."""

    command: str
    date: str
    machine: str
    tests: str
    soak_minutes: float


def recording_tests(root: Path = ROOT) -> list[str]:
    """Test modules that record figures, relative to the repository."""
    found = [
        path.relative_to(root).as_posix()
        for path in sorted((root / "tests").rglob("test_*.py"))
        if RECORDER in path.read_text(encoding="utf-8")
    ]
    return [p for p in found if p != "tests/test_reliability_record.py"]


def machine() -> str:
    """CPU, cores, memory, OS, Python and Mosquitto versions, in one line."""
    cpu = platform.machine()
    info = Path("/proc/cpuinfo")
    if info.exists() and (model := re.search(r"model name\s*:\s*(.+)", info.read_text())):
        cpu = model.group(1).strip()
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists() and (total := re.search(r"MemTotal:\s*(\d+)", meminfo.read_text())):
        memory = f", {int(total.group(1)) / 1024 / 1024:.1f} GiB RAM"
    mosquitto = "no Mosquitto"
    if binary := shutil.which("mosquitto"):
        shown = subprocess.run(  # noqa: PLW1510  # it exits 3 after printing its version
            [binary, "-h"], capture_output=True, text=True, timeout=10
        ).stdout
        mosquitto = shown.splitlines()[0].strip() if shown else "Mosquitto"
    return (
        f"{cpu} ({os.cpu_count()} cores{memory}); {platform.platform()};"
        f" Python {platform.python_version()}; {mosquitto}"
    )


def cell(value: object) -> str:
    """A figure as table text: a pipe or newline in it cannot break the table."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table(records: Sequence[dict[str, object]]) -> list[str]:
    """One row per record. Figures most of the rows have get a column each (in first-seen
    order); the rest are listed in the row's last column, so a table stays readable."""
    figures: list[dict[str, object]] = []
    for item in records:
        found = item["figures"]
        assert isinstance(found, dict)
        figures.append(found)
    seen: list[str] = []
    for found in figures:
        seen += [key for key in found if key not in seen]
    columns = [k for k in seen if 2 * sum(k in f for f in figures) >= len(figures)]
    others = [k for k in seen if k not in columns]
    header = ["test", *(c.replace("_", " ") for c in columns)]
    header += ["other figures"] if others else []
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for item, found in zip(records, figures, strict=True):
        row = [cell(item["name"]), *(cell(found.get(c, "")) for c in columns)]
        if others:
            named = [f"{k.replace('_', ' ')} {cell(found[k])}" for k in others if k in found]
            row.append(", ".join(named))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def by_hand(document: str) -> str:
    """The part of a rendered document written by hand (from `BY_HAND` on), or nothing."""
    _, marker, rest = document.partition(BY_HAND)
    return marker + rest if marker else ""


def render(records: Sequence[dict[str, object]], run: Run, *, kept: str = "") -> str:
    """The whole document: what it is, how to make it again, one table per section, then
    `kept`, the part written by hand (see `by_hand`)."""
    lines = [
        "# Reliability: faults, load and hostile input",
        "",
        "Generated by `bench/reliability.py` from the figures the tests and the soak recorded"
        " after their assertions passed; do not edit the tables by hand (the sections after"
        " them are written by hand, and kept).",
        "",
        f"- Reproduce: `{run.command}`",
        f"- Date: {run.date}",
        f"- Machine: {run.machine}",
        f"- Tests: {run.tests}",
        f"- Soak: {run.soak_minutes:g} minutes here, not the full 30 of the target; the full"
        " run is `.venv/bin/python -m bench.soak` (30 minutes by default).",
    ]
    order = [*SECTIONS, *sorted({str(r["section"]) for r in records} - set(SECTIONS))]
    for section in order:
        rows = [r for r in records if r["section"] == section]
        if not rows:
            continue
        title, about = SECTIONS.get(section, (section.replace("_", " ").capitalize(), ""))
        lines += ["", f"## {title}", ""]
        if about:
            lines += [about, ""]
        lines += table(rows)
    text = "\n".join(lines) + "\n"
    return f"{text}\n{kept.rstrip()}\n" if kept else text


def run_tests(paths: list[str], results: Path) -> str:
    """Run the recording tests at full scale; returns pytest's summary, or exits if any failed.

    Full scale: the SIGKILL tests use 5,000-event bursts and 20 kill points each (the everyday
    suite uses fewer, to stay quick).
    """
    env = {**os.environ, RESULTS_ENV: str(results), "TELECARE_CRASH_SCALE": "full"}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *paths]
    print("$", " ".join(argv[2:]), flush=True)
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    summary = lines[-1].strip("= ") if lines else "no output"
    print(summary, flush=True)
    if done.returncode != 0:
        print(done.stdout[-4000:], done.stderr[-2000:], sep="\n")
        sys.exit("tests failed: docs/RELIABILITY.md is not written from a failing run")
    return summary


def run_soak(minutes: float, results: Path) -> None:
    sample_s = max(10.0, minutes * 60 / 30)
    argv = [sys.executable, "-m", "bench.soak", "--minutes", f"{minutes:g}"]
    argv += ["--sample-s", f"{sample_s:g}"]
    print("$", " ".join(argv[1:]), flush=True)
    env = {**os.environ, RESULTS_ENV: str(results)}
    subprocess.run(argv, cwd=ROOT, env=env, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--soak-minutes", type=float, default=5.0, help="soak length (default 5)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "RELIABILITY.md")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="telecare-reliability-") as workdir:
        results = Path(workdir) / "results.jsonl"
        tests = run_tests(recording_tests(), results)
        run_soak(args.soak_minutes, results)
        records = load(results)
    run = Run(
        command=f".venv/bin/python -m bench.reliability --soak-minutes {args.soak_minutes:g}",
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine(),
        tests=f"{tests} ({len(recording_tests())} modules that record figures)",
        soak_minutes=args.soak_minutes,
    )
    kept = by_hand(args.out.read_text(encoding="utf-8")) if args.out.exists() else ""
    args.out.write_text(render(records, run, kept=kept), encoding="utf-8")
    print(f"wrote {args.out} ({len(records)} records) in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
