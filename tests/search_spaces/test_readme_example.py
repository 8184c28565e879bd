"""The README's example of a user-written search space runs, and its space obeys the protocol."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import search_spaces
from search_spaces import registry

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    text = README.read_text()
    found = re.search(r"<!-- example: own-space -->\n```python\n(.*?)```", text, re.DOTALL)
    assert found, "the README lost its own-space example"
    return found.group(1)


def test_the_readme_space_example_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "_FACTORIES", dict(registry._FACTORIES))  # undo register()
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(_example(), str(README), "exec", dont_inherit=True), namespace)
    printed = capsys.readouterr().out
    assert printed.startswith("[(") and printed.count("'") >= 6  # three ranked arch strings
    space = search_spaces.get("plain_conv")
    everything = list(space.enumerate())
    assert len(everything) == 3 + 9 + 27 == len(set(everything))
    for arch in everything[::7]:
        assert space.from_str(space.to_str(arch)) == arch
    with pytest.raises(search_spaces.SearchSpaceError, match="'8-7'"):
        space.from_str("8-7")
    assert space.sample(np.random.default_rng(0)) in everything
