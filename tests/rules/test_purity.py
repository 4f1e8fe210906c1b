"""`rules/` and the wire contract below it stay pure: stdlib and pydantic only, no I/O, no clock."""

import ast
import sys
from pathlib import Path

import pytest

import rules
import wire

RULES_DIR = Path(rules.__file__).parent
WIRE_DIR = Path(wire.__file__).parent
ALLOWED_THIRD_PARTY = frozenset({"pydantic", "pydantic_core", "rules", "wire"})
BANNED = frozenset(
    {
        "asyncio",
        "time",
        "socket",
        "sqlite3",
        "aiosqlite",
        "paho",
        "aiomqtt",
        "gpiozero",
        "httpx",
        "twilio",
        "hub",
        "drivers",
        "notifier",
        "firmware_sim",
        "subprocess",
        "threading",
        "os",
    }
)
CLOCK_CALLS = frozenset(
    {
        ("datetime", "now"),
        ("datetime", "utcnow"),
        ("datetime", "today"),
        ("date", "today"),
        ("time", "time"),
        ("time", "time_ns"),
        ("time", "monotonic"),
        ("time", "perf_counter"),
    }
)


def modules() -> list[Path]:
    return sorted(RULES_DIR.rglob("*.py")) + sorted(WIRE_DIR.rglob("*.py"))


def imported_roots(tree: ast.AST) -> set[str]:
    """Top-level names of every module imported; relative imports count as `rules`."""
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add("rules" if node.level else (node.module or "").split(".")[0])
    return roots


def unpure_imports(tree: ast.AST) -> set[str]:
    return {
        root
        for root in imported_roots(tree)
        if root in BANNED
        or (root not in sys.stdlib_module_names and root not in ALLOWED_THIRD_PARTY)
    }


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def clock_reads(tree: ast.AST) -> list[str]:
    """Calls such as `datetime.now()`, `datetime.datetime.utcnow()` or `time.time()`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            call = (_name(node.func.value), node.func.attr)
            if call in CLOCK_CALLS:
                found.append(f"line {node.lineno}: {call[0]}.{call[1]}()")
    return found


def test_the_rules_package_is_found() -> None:
    names = {path.name for path in modules()}

    assert {"engine.py", "causes.py", "policy.py", "incidents.py", "evidence.py"} <= names


@pytest.mark.parametrize("path", modules(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_imports_only_stdlib_and_pydantic(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    assert unpure_imports(tree) == set()


@pytest.mark.parametrize("path", modules(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_never_reads_the_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))

    assert clock_reads(tree) == []


@pytest.mark.parametrize(
    ("source", "offender"),
    [
        ("import asyncio", "asyncio"),
        ("import time", "time"),
        ("from socket import socket", "socket"),
        ("import sqlite3", "sqlite3"),
        ("import paho.mqtt.client as mqtt", "paho"),
        ("from hub.wire import PREFIX", "hub"),
        ("from drivers import native", "drivers"),
        ("from notifier.model import OutboxEntry", "notifier"),
        ("import httpx", "httpx"),
    ],
)
def test_the_import_check_catches_an_offender(source: str, offender: str) -> None:
    tree = ast.parse(f"from rules.policy import Severity\nfrom . import events\n{source}\n")

    assert unpure_imports(tree) == {offender}


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import datetime\nnow = datetime.now()",
        "import datetime\nnow = datetime.datetime.now(datetime.UTC)",
        "from datetime import datetime\nnow = datetime.utcnow()",
        "import time\nnow = time.time()",
        "import time\nnow = time.monotonic()",
    ],
)
def test_the_clock_check_catches_a_clock_read(source: str) -> None:
    assert len(clock_reads(ast.parse(source))) == 1


def test_the_clock_check_allows_time_passed_in() -> None:
    source = "def f(now):\n    return now.astimezone().replace(second=0) + delta\n"

    assert clock_reads(ast.parse(source)) == []
