"""The recorder behind docs/RELIABILITY.md writes only when asked, and reads back what it wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.reliability import RESULTS_ENV, load, record


def test_records_nothing_unless_a_results_file_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    record("faults", "broker restart", sent=10)
    assert list(tmp_path.iterdir()) == []


def test_appends_each_record_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "results.jsonl"
    monkeypatch.setenv(RESULTS_ENV, str(results))
    record("faults", "broker restart", sent=10, stored=10, lost=0)
    record("fuzz", "decoders", inputs=500, crashes=0, worst="n/a")
    assert load(results) == [
        {
            "section": "faults",
            "name": "broker restart",
            "figures": {"sent": 10, "stored": 10, "lost": 0},
        },
        {
            "section": "fuzz",
            "name": "decoders",
            "figures": {"inputs": 500, "crashes": 0, "worst": "n/a"},
        },
    ]
