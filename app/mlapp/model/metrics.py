"""Binary classification metrics in numpy only (the worker image has no scikit-learn).

Conventions, as scikit-learn's with zero_division=0: precision is 0.0 when nothing is predicted positive,
recall is 0.0 when there is no positive row, F1 is 0.0 when precision + recall is 0. ROC AUC is None when
the rows hold a single class (it is undefined there); tied scores count one half (the rank statistic with
average ranks, i.e. the Mann-Whitney U divided by n_pos * n_neg).
"""

from __future__ import annotations

from typing import Any

import numpy as np

THRESHOLD = 0.5


def _labels(y: np.ndarray | list[int]) -> np.ndarray:
    array = np.asarray(y).reshape(-1)
    if not np.isin(array, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")
    return array.astype(np.int64)


def _pair(y_true: np.ndarray | list[int], y_pred: np.ndarray | list[int]) -> tuple[np.ndarray, np.ndarray]:
    t, p = _labels(y_true), _labels(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} rows, y_pred {p.size}")
    if t.size == 0:
        raise ValueError("no rows")
    return t, p


def confusion_matrix(y_true: np.ndarray | list[int], y_pred: np.ndarray | list[int]) -> dict[str, int]:
    """Counts of true negatives, false positives, false negatives and true positives."""
    t, p = _pair(y_true, y_pred)
    return {
        "tn": int(((t == 0) & (p == 0)).sum()),
        "fp": int(((t == 0) & (p == 1)).sum()),
        "fn": int(((t == 1) & (p == 0)).sum()),
        "tp": int(((t == 1) & (p == 1)).sum()),
    }


def accuracy(y_true: np.ndarray | list[int], y_pred: np.ndarray | list[int]) -> float:
    t, p = _pair(y_true, y_pred)
    return float((t == p).mean())


def precision(y_true: np.ndarray | list[int], y_pred: np.ndarray | list[int]) -> float:
    c = confusion_matrix(y_true, y_pred)
    return c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0


def recall(y_true: np.ndarray | list[int], y_pred: np.ndarray | list[int]) -> float:
    c = confusion_matrix(y_true, y_pred)
    return c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0


def f1(y_true: np.ndarray | list[int], y_pred: np.ndarray | list[int]) -> float:
    p, r = precision(y_true, y_pred), recall(y_true, y_pred)
    return 2 * p * r / (p + r) if p + r else 0.0


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of the values, tied values sharing the mean of their ranks."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)  # the highest rank of each group of equal values
    means = ends - (counts - 1) / 2.0
    return means[inverse]


def roc_auc(y_true: np.ndarray | list[int], scores: np.ndarray | list[float]) -> float | None:
    """Area under the ROC curve: the chance that a random positive scores above a random negative."""
    t = _labels(y_true)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if s.shape != t.shape:
        raise ValueError(f"y_true has {t.size} rows, scores {s.size}")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    positives = int(t.sum())
    negatives = int(t.size - positives)
    if positives == 0 or negatives == 0:
        return None
    rank_sum = float(average_ranks(s)[t == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def majority_class(y: np.ndarray | list[int]) -> int:
    """The more frequent label (0 on a tie)."""
    t = _labels(y)
    return int(t.sum() * 2 > t.size)


def baseline_accuracy(y_true: np.ndarray | list[int], majority: int) -> float:
    """Accuracy of always answering `majority` (the training data's majority class)."""
    t = _labels(y_true)
    return float((t == majority).mean())


def binary_report(
    y_true: np.ndarray | list[int],
    probabilities: np.ndarray | list[float],
    majority: int,
    threshold: float = THRESHOLD,
) -> dict[str, Any]:
    """Every metric above for probabilities of class 1 (outcome 1 when probability >= threshold)."""
    t = _labels(y_true)
    prob = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    predicted = (prob >= threshold).astype(np.int64)
    return {
        "accuracy": accuracy(t, predicted),
        "precision": precision(t, predicted),
        "recall": recall(t, predicted),
        "f1": f1(t, predicted),
        "roc_auc": roc_auc(t, prob),
        "baseline_accuracy": baseline_accuracy(t, majority),
        "majority_class": majority,
        "confusion": confusion_matrix(t, predicted),
        "rows": int(t.size),
        "threshold": threshold,
    }
