"""mlapp.model.metrics against values worked out by hand (scikit-learn is not a dependency to compare to)."""

from __future__ import annotations

import numpy as np
import pytest

from mlapp.model import metrics

# 10 rows: 4 positives, 6 negatives; at threshold 0.5: tp=3, fn=1, fp=2, tn=4
Y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
P = [0.9, 0.8, 0.6, 0.3, 0.7, 0.55, 0.4, 0.2, 0.1, 0.05]


def test_confusion_matrix_and_derived_metrics_by_hand():
    predicted = [int(p >= 0.5) for p in P]
    assert metrics.confusion_matrix(Y, predicted) == {"tn": 4, "fp": 2, "fn": 1, "tp": 3}
    assert metrics.accuracy(Y, predicted) == pytest.approx(7 / 10)
    assert metrics.precision(Y, predicted) == pytest.approx(3 / 5)
    assert metrics.recall(Y, predicted) == pytest.approx(3 / 4)
    assert metrics.f1(Y, predicted) == pytest.approx(2 * 0.6 * 0.75 / (0.6 + 0.75))  # 2/3


def test_roc_auc_counts_ordered_pairs():
    # positive scores 0.9, 0.8, 0.6, 0.3 against negatives 0.7, 0.55, 0.4, 0.2, 0.1, 0.05:
    # 0.9 and 0.8 beat all 6, 0.6 beats 5 (all but 0.7), 0.3 beats 3 -> 20 of 24 pairs
    assert metrics.roc_auc(Y, P) == pytest.approx(20 / 24)


def test_roc_auc_ties_count_one_half():
    # pairs (pos, neg): (0.5, 0.5) tie -> 1/2, (0.5, 0.2) win, (0.8, 0.5) win, (0.8, 0.2) win -> 3.5 / 4
    assert metrics.roc_auc([1, 0, 1, 0], [0.5, 0.5, 0.8, 0.2]) == pytest.approx(3.5 / 4)
    assert metrics.roc_auc([1, 1, 0, 0], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)


def test_roc_auc_extremes_and_order_independence():
    assert metrics.roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert metrics.roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4]) == 0.0
    order = np.random.default_rng(3).permutation(len(Y))
    assert metrics.roc_auc(np.array(Y)[order], np.array(P)[order]) == pytest.approx(20 / 24)


def test_average_ranks_share_tied_ranks():
    assert metrics.average_ranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])).tolist() == [4.0, 1.0, 4.0, 2.0, 4.0]


def test_a_single_class():
    assert metrics.roc_auc([1, 1, 1], [0.2, 0.5, 0.9]) is None
    assert metrics.roc_auc([0, 0], [0.2, 0.5]) is None
    # all negative, all predicted negative: nothing predicted positive, no positive row
    assert metrics.confusion_matrix([0, 0, 0], [0, 0, 0]) == {"tn": 3, "fp": 0, "fn": 0, "tp": 0}
    assert metrics.accuracy([0, 0, 0], [0, 0, 0]) == 1.0
    assert metrics.precision([0, 0, 0], [0, 0, 0]) == 0.0
    assert metrics.recall([0, 0, 0], [0, 0, 0]) == 0.0
    assert metrics.f1([0, 0, 0], [0, 0, 0]) == 0.0
    ones = [1, 1]
    assert metrics.precision(ones, ones) == metrics.recall(ones, ones) == metrics.f1(ones, ones) == 1.0


def test_majority_class_and_baseline():
    assert metrics.majority_class([0, 0, 1]) == 0
    assert metrics.majority_class([1, 1, 0]) == 1
    assert metrics.majority_class([0, 1]) == 0  # a tie answers 0
    assert metrics.baseline_accuracy(Y, 0) == pytest.approx(6 / 10)
    assert metrics.baseline_accuracy(Y, 1) == pytest.approx(4 / 10)


def test_binary_report_uses_the_threshold_inclusively():
    report = metrics.binary_report([1, 0, 1, 0], [0.5, 0.49, 0.51, 0.9], majority=0)
    assert report["confusion"] == {"tn": 1, "fp": 1, "fn": 0, "tp": 2}
    assert report["accuracy"] == 0.75 and report["baseline_accuracy"] == 0.5 and report["rows"] == 4
    assert report["precision"] == pytest.approx(2 / 3) and report["recall"] == 1.0
    assert report["roc_auc"] == pytest.approx(0.5)  # pairs: (0.5,0.49) win, (0.5,0.9) loss, (0.51,*) 1 of 2


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="0 or 1"):
        metrics.accuracy([0, 2], [0, 1])
    with pytest.raises(ValueError, match="rows"):
        metrics.accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="no rows"):
        metrics.confusion_matrix([], [])
    with pytest.raises(ValueError, match="finite"):
        metrics.roc_auc([0, 1], [0.1, float("nan")])
