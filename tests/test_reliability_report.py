"""docs/RELIABILITY.md is rendered from whatever the tests recorded, one table per section."""

from pathlib import Path

from bench.reliability import BY_HAND, Run, by_hand, recording_tests, render

RUN = Run(
    command=".venv/bin/python -m bench.reliability --soak-minutes 2",
    date="2026-11-23 03:00 UTC",
    machine="a test machine",
    tests="3 passed",
    soak_minutes=2,
)


def test_each_section_is_a_table_whatever_figures_its_tests_recorded() -> None:
    records: list[dict[str, object]] = [
        {"section": "faults", "name": "kill", "figures": {"sent": 10, "lost": 0}},
        {"section": "faults", "name": "restart", "figures": {"sent": 5, "notify_s": 0.25}},
        {"section": "faults", "name": "odd", "figures": {"sent": 1, "stalls": 2, "clock": "+1h"}},
        {"section": "disk_full", "name": "no space | left", "figures": {"lost": 0}},
    ]
    text = render(records, RUN)

    assert "`.venv/bin/python -m bench.reliability --soak-minutes 2`" in text
    assert "2 minutes here, not the full 30" in text
    faults = text.split("## Faults")[1].split("##")[0]
    assert "| test | sent | other figures |" in faults, "figures most rows have: columns"
    assert "| kill | 10 | lost 0 |" in faults
    assert "| restart | 5 | notify s 0.25 |" in faults
    assert "| odd | 1 | stalls 2, clock +1h |" in faults
    assert "## Disk full" in text, "a section no one planned for still gets its table"
    assert "| no space \\| left | 0 |" in text
    assert "## Soak" not in text, "no empty sections"


def test_every_module_that_records_figures_is_run() -> None:
    found = recording_tests(Path(__file__).resolve().parent.parent)
    assert "tests/hub/test_crash.py" in found
    assert "tests/hub/web/test_web_fuzz.py" in found
    assert "tests/test_reliability_record.py" not in found
    assert "tests/test_reliability_report.py" not in found


def test_the_sections_written_by_hand_are_kept_when_the_tables_are_rendered_again() -> None:
    records: list[dict[str, object]] = [
        {"section": "faults", "name": "kill", "figures": {"sent": 10, "lost": 0}},
    ]
    prose = f"{BY_HAND}\n\n## A long outage\n\nWhat the run showed.\n"
    before = render(records, RUN, kept=prose)
    assert before.endswith(prose)
    assert by_hand(before) == prose

    again = render([*records, {"section": "soak", "name": "3 min", "figures": {"lost": 0}}], RUN,
                   kept=by_hand(before))  # fmt: skip
    assert "## Soak" in again and again.endswith(prose), "new tables, the same prose after them"
    assert by_hand(render(records, RUN)) == "", "nothing written by hand, nothing kept"
