"""Figures that fault, load and abuse tests record for docs/RELIABILITY.md.

A test calls `record(section, name, **figures)` after its assertions have passed. Nothing is
written unless `TELECARE_RELIABILITY_OUT` names a file: `bench/reliability.py` sets it, runs the
tests, and renders the collected lines into the document, so every figure there comes from a run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

RESULTS_ENV = "TELECARE_RELIABILITY_OUT"

Figure = int | float | str


def record(section: str, name: str, **figures: Figure) -> None:
    """Append one test's figures (events sent/stored/lost, duplicates, worst time-to-notify...)."""
    target = os.environ.get(RESULTS_ENV)
    if not target:
        return
    line = json.dumps({"section": section, "name": name, "figures": figures})  # figures in order
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def load(path: Path) -> list[dict[str, object]]:
    """Every record written to `path`, in the order the tests wrote them."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
