"""`score_table`: several scorers over many architectures, one row per architecture."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import flax.linen as nn
import jax
from tqdm import tqdm

from scorers.base import Batch, Scorer, ScorerError
from scorers.registry import get


def score_table(
    items: Iterable[tuple[str, nn.Module]],
    scorers: Sequence[Scorer | str],
    batch: Batch,
    *,
    key: jax.Array,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Scores every ``(name, module)`` with every scorer, each from a fresh initialisation.

    Item ``i`` is initialised from ``jax.random.fold_in(key, i)``, the same key for every scorer,
    so that the scorers see the same network.

    Args:
      items: ``(name, module)`` pairs.
      scorers: `Scorer` objects or registered names.
      batch: ``(x, y)``, passed to every scorer.
      key: PRNG key.
      progress: show a progress bar (tqdm, on stderr).

    Returns:
      One row per item: ``{"name": name, scorer.name: value, f"{scorer.name}.{extra}": ...}``.

    Raises:
      ScorerError: for an unknown scorer name, two scorers with one name, or a failed score.
    """
    resolved = [get(s) if isinstance(s, str) else s for s in scorers]
    columns = [s.name for s in resolved]
    if len(set(columns)) != len(columns):
        raise ScorerError(f"scorer names must be distinct (they name the columns), got {columns}")
    rows = []
    for index, (name, module) in enumerate(tqdm(items, disable=not progress, unit="arch")):
        item_key = jax.random.fold_in(key, index)
        row: dict[str, Any] = {"name": name}
        for scorer in resolved:
            score = scorer(module, None, batch, key=item_key)
            row[scorer.name] = score.value
            row.update({f"{scorer.name}.{extra}": v for extra, v in score.extras.items()})
        rows.append(row)
    return rows
