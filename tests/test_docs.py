"""The documentation index reaches every page, and the links of the index and cli.md resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")

pytestmark = pytest.mark.timeout(30)


def links(page: Path) -> list[str]:
    return [target for target in LINK.findall(page.read_text(encoding="utf-8"))
            if "://" not in target]  # fmt: skip


def test_index_links_every_page() -> None:
    linked = {(DOCS / target).resolve() for target in links(DOCS / "index.md")}
    pages = {page.resolve() for page in DOCS.glob("*.md") if page.name != "index.md"}
    assert not sorted(page.name for page in pages - linked)


@pytest.mark.parametrize("name", ["index.md", "cli.md"])
def test_links_resolve(name: str) -> None:
    missing = [target for target in links(DOCS / name) if not (DOCS / target).exists()]
    assert not missing


@pytest.mark.parametrize(
    "name",
    [
        "migrating-from-ataraxis-data-structures.md",
        "migrating-from-rigorous-recorder.md",
        "migrating-from-simrecorder.md",
        "migrating-from-h5pyswmr.md",
    ],
)
def test_migration_guides_count_their_blocks_and_name_real_tests(name: str) -> None:
    """The block count adds up, each row of the block table names a test, and it exists."""
    text = (DOCS / name).read_text(encoding="utf-8")
    total, unchanged, different = map(
        int,
        re.search(
            r"\*\*(\d+)\s+blocks:\s+(\d+)\s+run\s+unchanged,\s+(\d+)\s+deliberately", text
        ).groups(),
    )
    assert total == unchanged + different
    table = re.split(r"## The (?:3.1 )?README, block by block", text)[1].split("\n## ")[0]
    rows = [row for row in table.splitlines() if row.startswith("| ") and "---" not in row][1:]
    assert len(rows) == total
    assert sum("| yes" in row for row in rows) == unchanged
    tests = Path(__file__).resolve().parent
    sources = "\n".join(path.read_text(encoding="utf-8") for path in tests.rglob("test_*.py"))
    named = {test for row in rows for test in re.findall(r"`(test_\w+)`", row)}
    assert named
    assert not sorted(test for test in named if f"def {test}(" not in sources)
