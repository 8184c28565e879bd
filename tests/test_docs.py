"""The Markdown documents' links and cited result files point at things that exist."""

from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = (ROOT / "README.md", ROOT / "experiments" / "README.md")
RESULTS = ROOT / "experiments" / "results"

_LINK = re.compile(r"\[[^\]]+\]\(([^)\s]+)\)")
_RESULT_FILE = re.compile(r"`(?:experiments/results/)?([\w./-]+\.jsonl?)`")
_CODE_SPAN = re.compile(r"`[^`]*`")


def heading_anchor(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    text = heading.replace("`", "").strip().lower()
    kept = "".join(char for char in text if char in " -_" or unicodedata.category(char)[0] in "LN")
    return kept.replace(" ", "-")


@functools.cache
def anchors(document: Path) -> frozenset[str]:
    """The anchors of every heading of `document` outside fenced code blocks."""
    found, fenced = set(), False
    for line in document.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            found.add(heading_anchor(line.lstrip("#")))
    return frozenset(found)


def prose(document: Path) -> str:
    """`document` without its fenced code blocks (commands name files they are about to write)."""
    return re.sub(r"^```.*?^```", "", document.read_text(), flags=re.DOTALL | re.MULTILINE)


def test_heading_anchor_follows_github() -> None:
    assert heading_anchor(" NAS-Bench-201 results") == "nas-bench-201-results"
    assert (
        heading_anchor("TE-NAS's pruning search (`experiments/nb201_prune.py`)")
        == "te-nass-pruning-search-experimentsnb201_prunepy"
    )
    assert heading_anchor("The `ntk-nas` command") == "the-ntk-nas-command"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_relative_links_reach_files_and_headings(document: Path) -> None:
    broken = []
    for target in _LINK.findall(_CODE_SPAN.sub("", prose(document))):
        if re.match(r"[a-z]+:", target):
            continue  # an absolute URL
        path_part, _, anchor = target.partition("#")
        linked = (document.parent / path_part).resolve() if path_part else document
        if not linked.exists() or (anchor and anchor not in anchors(linked)):
            broken.append(target)
    assert not broken, f"{document.relative_to(ROOT)} links to what does not exist: {broken}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_cited_result_files_exist(document: Path) -> None:
    shipped = {path.name for path in RESULTS.rglob("*") if path.is_file()}
    # Results are named after their experiment (nb201_..., bench_...); other names are the
    # files a command writes into its output folder (`DIR/results.json`).
    experiments = {path.stem.split("_")[0] for path in (ROOT / "experiments").glob("*.py")}
    cited = {Path(name).name for name in _RESULT_FILE.findall(prose(document))}
    cited = {name for name in cited if name.split("_")[0] in experiments}
    name = document.relative_to(ROOT)
    assert cited, f"{name} cites no result file: the pattern no longer matches"
    missing = sorted(cited - shipped)
    assert not missing, f"{name} cites result files that are not shipped: {missing}"
