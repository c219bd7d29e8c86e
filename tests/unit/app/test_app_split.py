"""The hold-out split (mlapp.model.split): stratified, seeded, disjoint."""

from __future__ import annotations

import numpy as np
import pytest

from mlapp.model.dataset import load_csv
from mlapp.model.split import stratified_split


def labels(negatives: int, positives: int) -> np.ndarray:
    y = np.array([0] * negatives + [1] * positives)
    return np.random.default_rng(11).permutation(y)


def test_disjoint_and_covering():
    y = labels(500, 268)
    split = stratified_split(y, 0.2, seed=7)
    assert np.intersect1d(split.train, split.holdout).size == 0
    assert np.array_equal(np.sort(np.concatenate([split.train, split.holdout])), np.arange(768))
    assert split.holdout.size == 154 and split.seed == 7 and split.fraction == 0.2


def test_stratified():
    y = labels(500, 268)
    split = stratified_split(y, 0.2, seed=7)
    assert int(y[split.holdout].sum()) == round(0.2 * 268)  # 54 positives
    assert int((y[split.holdout] == 0).sum()) == round(0.2 * 500)  # 100 negatives


def test_same_seed_same_rows_other_seed_other_rows():
    y = labels(500, 268)
    a, b, c = (stratified_split(y, 0.2, seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.holdout, b.holdout) and np.array_equal(a.train, b.train)
    assert not np.array_equal(a.holdout, c.holdout)


def test_a_small_class_keeps_a_row_on_each_side():
    y = np.array([0] * 20 + [1, 1])
    split = stratified_split(y, 0.2, seed=0)
    assert int(y[split.holdout].sum()) == 1 and int(y[split.train].sum()) == 1


def test_real_data_set(mlapp_data_csv):
    dataset = load_csv(mlapp_data_csv)
    split = stratified_split(dataset.y, 0.2, seed=7)
    share = dataset.y.mean()
    assert abs(dataset.y[split.holdout].mean() - share) < 0.005
    assert abs(dataset.y[split.train].mean() - share) < 0.005


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_fraction_out_of_range(fraction):
    with pytest.raises(ValueError, match="between 0 and 1"):
        stratified_split(np.array([0, 1, 0, 1]), fraction, seed=0)


def test_too_few_rows():
    with pytest.raises(ValueError, match="too few"):
        stratified_split(np.array([1]), 0.2, seed=0)
