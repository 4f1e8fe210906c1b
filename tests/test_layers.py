"""The layers of the project, as docs/ARCHITECTURE.md writes them: no module imports upwards.

Every module of each package is read with `ast` (nothing is imported), and each import of
another package of the project must be one its layer allows. The allowed imports are read from
the block in docs/ARCHITECTURE.md that follows the `layers` marker, and checked against the
order mirrored here, so the document and the test cannot drift apart.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
MARKER = "<!-- layers: read by tests/test_layers.py -->"
# Mirrors docs/ARCHITECTURE.md: each package and the packages of the project it may import.
ALLOWED: dict[str, frozenset[str]] = {
    "wire": frozenset(),
    "webguard": frozenset(),
    "rules": frozenset({"wire"}),
    "drivers": frozenset({"wire", "rules"}),
    "notifier": frozenset({"wire", "rules"}),
    "firmware_sim": frozenset({"wire", "rules", "notifier"}),
    "hub": frozenset({"wire", "webguard", "rules", "drivers", "notifier", "firmware_sim"}),
    "centre": frozenset({"wire", "webguard", "rules", "notifier"}),
}


def documented_layers(text: str) -> dict[str, frozenset[str]]:
    """The `package: allowed, ...` lines of the fenced block after the marker."""
    after = text.split(MARKER, 1)[1]
    block = re.search(r"```[^\n]*\n(.*?)```", after, re.S)
    assert block is not None, f"no fenced block after {MARKER!r} in {ARCHITECTURE}"
    layers: dict[str, frozenset[str]] = {}
    for line in block.group(1).splitlines():
        if ":" not in line:
            continue
        name, allowed = line.split(":", 1)
        allowed = allowed.split("#", 1)[0]
        parts = {p.strip() for p in allowed.split(",") if p.strip() and p.strip() != "-"}
        layers[name.strip()] = frozenset(parts)
    return layers


def imported_packages(source: str) -> list[tuple[int, str]]:
    """Each absolute import's top-level package, with its line (imports in functions too)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def violations(root: Path, allowed: dict[str, frozenset[str]]) -> list[str]:
    """Every import, under `root`, of a package of the project that its layer does not allow."""
    problems: list[str] = []
    for package, may_import in allowed.items():
        folder = root / package
        if not folder.is_dir():
            continue  # a package that does not exist (yet) imports nothing
        for path in sorted(folder.rglob("*.py")):
            for line, name in imported_packages(path.read_text()):
                if name in allowed and name != package and name not in may_import:
                    where = path.relative_to(root)
                    problems.append(f"{where}:{line}: {package} may not import {name}")
    return problems


def test_the_document_and_the_test_agree_on_the_layers() -> None:
    assert documented_layers(ARCHITECTURE.read_text()) == ALLOWED


def test_no_module_imports_a_layer_it_may_not() -> None:
    assert violations(ROOT, ALLOWED) == []


def test_a_peer_or_a_higher_layer_is_refused(tmp_path: Path) -> None:
    (tmp_path / "drivers").mkdir()
    (tmp_path / "drivers" / "bad.py").write_text("import notifier.model\nfrom wire import x\n")
    (tmp_path / "wire").mkdir()
    (tmp_path / "wire" / "up.py").write_text("def f():\n    from hub.store import store\n")
    (tmp_path / "hub").mkdir()
    (tmp_path / "hub" / "side.py").write_text("import centre.app\n")
    assert violations(tmp_path, ALLOWED) == [
        "wire/up.py:2: wire may not import hub",
        "drivers/bad.py:1: drivers may not import notifier",
        "hub/side.py:1: hub may not import centre",
    ]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_every_layer_is_written_down(package: str) -> None:
    assert f"`{package}/`" in ARCHITECTURE.read_text()
