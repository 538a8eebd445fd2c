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
