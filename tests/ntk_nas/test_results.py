"""ntk_nas.results: the scatter plots' axis scale, and a plot over points not all finite."""

from __future__ import annotations

import numpy as np
import pytest

from ntk_nas import results


@pytest.mark.parametrize(
    ("values", "scale"),
    [
        ([1.0, 50.0], "linear"),  # under two decades
        ([1.0, 5e3], "log"),
        ([-1.0, 0.0, 5e3], "symlog"),  # magnitudes span decades, not all positive
        ([0.0, 7.0], "linear"),  # one non-zero value
    ],
)
def test_scale_for(values: list[float], scale: str) -> None:
    assert results.scale_for(np.array(values)) == scale


def test_plot_scatter_draws_the_finite_points_of_each_panel(tmp_path) -> None:
    path = tmp_path / "scatter.png"
    x = [1.0, 10.0, 1e4, float("inf")]
    panels = [("score", "acc", x, [90.0, 91.0, 93.0, 94.0]), ("score", "empty", x, [np.nan] * 4)]
    results.plot_scatter(panels, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
