"""score_table: one row per architecture, one column per scorer and extra, a progress bar."""

from __future__ import annotations

import jax
import pytest

from scorers import NASWOT, Params, ScorerError, score_table
from tests.scorers.models import MLP, batch

KEY = jax.random.key(0)


def test_rows_hold_every_score_from_per_item_keys(capsys: pytest.CaptureFixture[str]) -> None:
    data = batch()
    items = [("narrow", MLP(hidden=4)), ("wide", MLP(hidden=12))]
    rows = score_table(items, ["params", NASWOT()], data, key=KEY)
    assert [row["name"] for row in rows] == ["narrow", "wide"]
    assert [row["params"] for row in rows] == [47.0, 135.0]
    for index, (_, module) in enumerate(items):
        direct = NASWOT()(module, None, data, key=jax.random.fold_in(KEY, index))
        assert rows[index]["naswot"] == direct.value
        assert rows[index]["naswot.units"] == direct.extras["units"]
    assert {"params.seconds", "naswot.seconds", "naswot.relus"} <= set(rows[0])
    assert "2/2" in capsys.readouterr().err


def test_quiet_tables_and_duplicate_columns() -> None:
    assert score_table([], ["params"], batch(), key=KEY, progress=False) == []
    with pytest.raises(ScorerError, match="distinct"):
        score_table([("a", MLP())], ["params", Params()], batch(), key=KEY)
