"""The side-by-side table of experiments/compare_neural_tangents.py, from JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

from experiments import compare_neural_tangents as compare


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text("progress line\n" + "\n".join(json.dumps(r) for r in rows) + "\n")


def test_table_joins_both_sides_and_compares_the_fastest(tmp_path: Path) -> None:
    nt = [
        {"kind": "timing", "model": "mlp", "trace": "full", "implementation": name, **status}
        for name, status in [
            ("JACOBIAN_CONTRACTION", {"status": "ok", "wall_s": 2.0}),
            ("STRUCTURED_DERIVATIVES", {"status": "ok", "wall_s": 0.5}),
            ("NTK_VECTOR_PRODUCTS", {"status": "OOM"}),
            ("naive_jacrev", {"status": "ok", "wall_s": 0.1}),  # not an NT implementation
        ]
    ]
    ours = [
        {
            "model": "mlp",
            "output": "full",
            "implementation": "structured_derivatives",
            "status": "ok",
            "seconds": 0.25,
        },
        {
            "model": "mlp",
            "output": "full",
            "implementation": "auto",
            "status": "ok",
            "seconds": 0.1,
        },  # auto is shown, but the comparison is between implementations
        {"kind": "auto", "model": "mlp", "output": "full", "auto_over_fastest": 1.0},
    ]
    _write(tmp_path / "nt.jsonl", nt)
    _write(tmp_path / "ours.jsonl", ours)
    text = compare.table(
        compare.anchor_seconds(compare.read_jsonl(tmp_path / "nt.jsonl")),
        compare.our_seconds(compare.read_jsonl(tmp_path / "ours.jsonl")),
    )
    header, rule, row = text.splitlines()
    assert header.count("|") == rule.count("|") == row.count("|")
    assert row == "| mlp | full | 2 | - | 0.5 | - | - | 0.25 | 0.1 | 2.00 |"
