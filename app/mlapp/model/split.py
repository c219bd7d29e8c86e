"""A seeded, stratified hold-out split: each class keeps its share in both parts, and one seed always
gives the same rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_HOLDOUT_FRACTION = 0.2


@dataclass(frozen=True)
class Split:
    train: np.ndarray  # sorted row indices
    holdout: np.ndarray  # sorted row indices, disjoint from train
    seed: int
    fraction: float


def stratified_split(y: np.ndarray, fraction: float = DEFAULT_HOLDOUT_FRACTION, seed: int = 0) -> Split:
    """Hold out round(fraction * n) rows of each class (at least one of a class with two or more rows,
    never all of them), drawn by numpy's PCG64 generator from `seed`."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the hold-out fraction must be between 0 and 1, got {fraction}")
    labels = np.asarray(y).reshape(-1)
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        count = round(fraction * rows.size)
        if rows.size >= 2:
            count = min(max(count, 1), rows.size - 1)
        held.append(rng.permutation(rows)[:count])
    holdout = np.sort(np.concatenate(held)) if held else np.array([], dtype=np.int64)
    train = np.setdiff1d(np.arange(labels.size), holdout)
    if train.size == 0 or holdout.size == 0:
        raise ValueError(f"{labels.size} rows are too few for a hold-out split")
    return Split(train=train, holdout=holdout.astype(np.int64), seed=seed, fraction=fraction)
