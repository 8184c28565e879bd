"""Our NTK implementations against neural-tangents 0.6.5 (the seed paper's code), in one go.

Runs the neural-tangents anchor (``bench_anchor.py``, in the old-JAX venv that ``anchor-venv.sh``
builds) and then ``experiments/bench_ntk.py`` on the same four models, one after the other on the
same machine, keeps both JSON-lines outputs in ``--out``, and prints a Markdown table: per model
and output mode, each side's seconds per implementation (median of the timed calls after a
compiling call), each side's fastest, and neural-tangents' fastest over ours (above 1: ours is
faster).

    PY=$(../shared/anchors/anchor-venv.sh /tmp/ntv2)
    python experiments/compare_neural_tangents.py --anchor-python "$PY" --out runs/nt
    python experiments/compare_neural_tangents.py --table-only --out runs/nt   # from saved output
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ntk_nas import results

HERE = Path(__file__).resolve().parent
DEFAULT_ANCHOR = Path("/work/shared/anchors/bench_anchor.py")
NT_IMPLEMENTATIONS = {
    "JACOBIAN_CONTRACTION": "jacobian_contraction",
    "NTK_VECTOR_PRODUCTS": "ntk_vector_products",
    "STRUCTURED_DERIVATIVES": "structured_derivatives",
}
OURS = ("jacobian_contraction", "ntk_vector_products", "structured_derivatives", "auto")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file (other lines are skipped)."""
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def anchor_seconds(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], float]:
    """``{(model, output, implementation): seconds}`` of the anchor's finished timings."""
    return {
        (r["model"], r["trace"], NT_IMPLEMENTATIONS[r["implementation"]]): r["wall_s"]
        for r in rows
        if r.get("kind") == "timing"
        and r.get("status") == "ok"
        and r["implementation"] in NT_IMPLEMENTATIONS
    }


def our_seconds(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, str, str], float]:
    """``{(model, output, implementation): seconds}`` of our finished timings."""
    return {
        (r["model"], r["output"], r["implementation"]): r["seconds"]
        for r in rows
        if r.get("status") == "ok" and "seconds" in r and "kind" not in r
    }


def _cell(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.4g}"


def _fastest(times: dict[str, float], names: Sequence[str]) -> tuple[str, float] | None:
    timed = [(name, times[name]) for name in names if name in times]
    return min(timed, key=lambda item: item[1]) if timed else None


def table(nt: dict[tuple[str, str, str], float], ours: dict[tuple[str, str, str], float]) -> str:
    """The side-by-side Markdown table (seconds; "-" where a case did not finish)."""
    cases = sorted({key[:2] for key in nt} | {key[:2] for key in ours})
    nt_names = list(NT_IMPLEMENTATIONS.values())
    header = [
        "model",
        "output",
        *(f"NT {name}" for name in nt_names),
        *(f"ours {name}" for name in OURS),
        "NT fastest / ours fastest",
    ]
    rows = []
    for model, output in cases:
        theirs = {name: s for (m, o, name), s in nt.items() if (m, o) == (model, output)}
        mine = {name: s for (m, o, name), s in ours.items() if (m, o) == (model, output)}
        best_nt, best_ours = _fastest(theirs, nt_names), _fastest(mine, OURS[:3])
        ratio = f"{best_nt[1] / best_ours[1]:.2f}" if best_nt and best_ours else "-"
        rows.append(
            [
                model,
                output,
                *(_cell(theirs.get(name)) for name in nt_names),
                *(_cell(mine.get(name)) for name in OURS),
                ratio,
            ]
        )
    return results.markdown_table(header, rows)


def run(command: Sequence[str], out: Path) -> None:
    """Runs `command`, its standard output to `out`; progress stays on standard error."""
    print(f"running {' '.join(command)} > {out}", file=sys.stderr, flush=True)
    with out.open("w") as f:
        subprocess.run(command, stdout=f, check=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--anchor-python", help="python of the neural-tangents venv")
    parser.add_argument("--anchor-script", type=Path, default=DEFAULT_ANCHOR)
    parser.add_argument("--out", type=Path, default=Path("runs/nt"))
    parser.add_argument("--reps", type=int, default=3, help="timed calls per case, both sides")
    parser.add_argument("--table-only", action="store_true", help="tabulate the saved outputs")
    args = parser.parse_args(argv)
    nt_path, ours_path = args.out / "neural_tangents.jsonl", args.out / "ours.jsonl"
    if not args.table_only:
        if not args.anchor_python:
            parser.error("--anchor-python is required unless --table-only")
        args.out.mkdir(parents=True, exist_ok=True)
        reps = ["--reps", str(args.reps)]
        run([args.anchor_python, str(args.anchor_script), *reps], nt_path)
        run([sys.executable, str(HERE / "bench_ntk.py"), *reps], ours_path)
    print(table(anchor_seconds(read_jsonl(nt_path)), our_seconds(read_jsonl(ours_path))))


if __name__ == "__main__":
    main()
