"""Fixtures shared by the NAS-Bench-201 experiment tests."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import search_spaces


@pytest.fixture(scope="session")
def accuracies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic ground truth for every NB201 cell (made-up accuracies, two decimals)."""
    path = tmp_path_factory.mktemp("truth") / "acc.csv"
    space = search_spaces.get("nb201")
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arch_index", "arch_str", "cifar10_test_acc", "cifar100_test_acc",
                         "imagenet16_test_acc"])  # fmt: skip
        for i, arch in enumerate(space.enumerate()):
            h = i * 7919 % 1000
            writer.writerow([i, space.to_str(arch), 80 + h / 100, 50 + h / 50, 20 + h / 40])
    return path
