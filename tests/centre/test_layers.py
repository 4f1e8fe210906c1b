"""The centre may use wire, rules and notifier, never hub; the hub never imports the centre."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(package: str) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {(str(path.relative_to(ROOT)), a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module))
    return found


def test_the_centre_never_imports_the_hub():
    assert [(f, m) for f, m in _imports("centre") if m.split(".")[0] == "hub"] == []


def test_the_hub_and_the_lower_layers_never_import_the_centre():
    for package in ("hub", "wire", "rules", "notifier", "drivers"):
        if (ROOT / package).is_dir():
            assert [(f, m) for f, m in _imports(package) if m.split(".")[0] == "centre"] == []
