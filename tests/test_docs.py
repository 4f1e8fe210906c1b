"""The README's first screen, and every relative link of the README and docs/ finding its target."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
FIRST_SCREEN = 60
LINK = re.compile(r"\[[^\]]+\]\(([^)\s]+)\)")


def anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown text."""
    found = set()
    for heading in re.findall(r"(?m)^#{1,6} (.+)$", text):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_the_first_screen_says_what_it_is_how_to_try_it_and_what_the_demo_shows() -> None:
    lines = README.read_text().splitlines()
    screen = "\n".join(lines[:FIRST_SCREEN])
    assert "make demo" in screen
    assert "make test" in screen  # .ci/run runs exactly this
    assert "## What the demo shows" in screen
    # the demo's description ends within the screen: the next section starts on it
    assert any(
        line.startswith("## ")
        for line in lines[lines.index("## What the demo shows") + 1 :][
            : FIRST_SCREEN - lines.index("## What the demo shows")
        ]
    )


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_every_relative_link_reaches_its_file_and_heading(page: Path) -> None:
    broken = []
    for link in LINK.findall(page.read_text()):
        if re.match(r"^[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists() or (
            anchor and target.suffix == ".md" and anchor not in anchors(target.read_text())
        ):
            broken.append(link)
    assert broken == []
