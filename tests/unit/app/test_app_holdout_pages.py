"""The hold-out block of /predictions and /accuracy, rendered by the real templates from an evaluation
result: hold-out metrics when the model's metadata has them, and a labelled fallback for a model trained
before the hold-out split. (The integration tests render both pages from a real worker's answer.)"""

from __future__ import annotations

import re

import pytest
from flask import render_template

from mlapp.features import FEATURES
from mlapp.web.chart import outcome_chart

HOLDOUT = {
    "accuracy": 0.766234,
    "precision": 0.695652,
    "recall": 0.592593,
    "f1": 0.64,
    "roc_auc": 0.817593,
    "baseline_accuracy": 0.649351,
    "majority_class": 0,
    "confusion": {"tn": 86, "fp": 14, "fn": 22, "tp": 32},
    "rows": 154,
    "threshold": 0.5,
    "seed": 1,
    "fraction": 0.2,
}
DATA_SET = {
    "accuracy": 0.773438,
    "rows": 768,
    "correct": 594,
    "confusion": {"tn": 428, "fp": 72, "fn": 102, "tp": 166},
}


def result(holdout: dict | None, train_accuracy: float | None) -> dict:
    return {
        "accuracy": holdout["accuracy"] if holdout else None,
        "holdout": holdout,
        "train_accuracy": train_accuracy,
        "data_set": DATA_SET,
        "sample": [],
        "data_sha256": "ab" * 32,
        "model": {"sha256": "cd" * 32, "holdout_accuracy": None, "train_accuracy": None},
        "worker": "w@h",
        "host": "h",
    }


def render(app, page: str, evaluation: dict) -> str:
    with app.test_request_context():
        if page == "predictions.html":
            chart = outcome_chart(evaluation["data_set"]["confusion"]).svg()
            return render_template(page, result=evaluation, features=FEATURES, chart=chart)
        return render_template(page, result=evaluation)


def text_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page)
    assert match, element_id
    return match.group(1).strip()


@pytest.mark.parametrize("page", ["predictions.html", "accuracy.html"])
def test_holdout_metrics_are_shown(mlapp_offline_app, page):
    html = render(mlapp_offline_app, page, result(HOLDOUT, 0.775244))
    assert text_of(html, "accuracy") == text_of(html, "holdout-accuracy") == "76.62%"
    assert text_of(html, "baseline-accuracy") == "64.94%"
    assert (text_of(html, "holdout-precision"), text_of(html, "holdout-recall")) == ("69.57%", "59.26%")
    assert (text_of(html, "holdout-f1"), text_of(html, "holdout-roc-auc")) == ("0.640", "0.818")
    assert text_of(html, "train-accuracy") == "77.52%"
    assert text_of(html, "holdout-seed") == "1"
    assert text_of(html, "dataset-accuracy") == "77.34%"
    assert "Hold-out accuracy (rows the model never saw in training)" in html
    assert 'always "no diabetes"' in html
    assert 'id="no-holdout"' not in html


def test_an_undefined_roc_auc_is_not_a_number(mlapp_offline_app):
    html = render(mlapp_offline_app, "accuracy.html", result({**HOLDOUT, "roc_auc": None}, None))
    assert text_of(html, "holdout-roc-auc") == "n/a"
    assert 'id="train-accuracy"' not in html


@pytest.mark.parametrize("page", ["predictions.html", "accuracy.html"])
def test_a_model_without_holdout_metrics_says_so(mlapp_offline_app, page):
    html = render(mlapp_offline_app, page, result(None, None))
    assert 'id="no-holdout"' in html and "retrain it" in html
    assert text_of(html, "accuracy") == text_of(html, "dataset-accuracy") == "77.34%"
    assert 'id="holdout-accuracy"' not in html and 'id="baseline-accuracy"' not in html
