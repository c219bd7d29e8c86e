"""Predictions and pages through the Flask test client, answered by a real Celery worker over the real
RabbitMQ, from a model trained by the real CLI in this session. The worker runs with
MACHINE_HOST=it-session-host: its node name, results, /status names that host."""

from __future__ import annotations

import re

import pytest
from app_services import ROW
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlapp.features import FEATURES, MAX_FEATURE_VALUE

SNAKE = ["pregnancies", "glucose", "blood_pressure", "skin_thickness", "insulin", "bmi", "dpf", "age"]


def predict(client, body):
    response = client.post("/api/predict", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_one_positional_row(mlapp_client, mlapp_models, mlapp_session_worker, mlapp_session_host):
    body = predict(mlapp_client, ROW)
    assert body["count"] == 1
    [prediction] = body["predictions"]
    assert 0.0 <= prediction["probability"] <= 1.0
    assert prediction["outcome"] == int(prediction["probability"] >= 0.5)
    assert body["model"]["sha256"] == mlapp_models["a"].sha256
    assert body["model"]["trained_at"] == mlapp_models["a"].metadata["trained_at"]
    assert body["worker"] == mlapp_session_worker
    assert body["host"] == mlapp_session_host
    assert mlapp_session_worker.startswith(f"{mlapp_session_host}@")


def test_named_and_positional_rows_agree(mlapp_client):
    positional = predict(mlapp_client, ROW)["predictions"][0]
    named = predict(mlapp_client, dict(zip(FEATURES, ROW, strict=True)))["predictions"][0]
    snake = dict(zip(SNAKE, ROW, strict=True))
    snake["diabetes_pedigree_function"] = snake.pop("dpf")
    assert positional == named == predict(mlapp_client, snake)["predictions"][0]


def test_a_batch_keeps_the_order_of_its_rows(mlapp_client):
    rows = [[i % 10, 80 + 10 * i, 70, 20, 0, 20.0 + i, 0.3, 21 + i] for i in range(25)]
    batch = predict(mlapp_client, {"rows": rows})
    assert batch["count"] == 25
    singles = [predict(mlapp_client, row)["predictions"][0] for row in rows[:5]]
    assert batch["predictions"][:5] == singles


def test_a_batch_at_the_row_limit(mlapp_client):
    body = predict(mlapp_client, [ROW] * 1000)
    assert body["count"] == 1000
    assert len({p["probability"] for p in body["predictions"]}) == 1


def test_accuracy_reports_the_holdout_metrics_and_the_whole_data_set(mlapp_client, mlapp_models):
    response = mlapp_client.get("/api/accuracy")
    assert response.status_code == 200
    body = response.get_json()
    metadata = mlapp_models["a"].metadata
    assert body["accuracy"] == metadata["accuracy"] == body["holdout"]["accuracy"]
    assert body["holdout"] == metadata["holdout"]
    assert body["train_accuracy"] == metadata["train_accuracy"]
    holdout = body["holdout"]
    assert holdout["accuracy"] > holdout["baseline_accuracy"] + 0.03
    data_set = body["data_set"]
    assert data_set["rows"] == 768
    confusion = data_set["confusion"]
    assert data_set["correct"] == confusion["tn"] + confusion["tp"] and sum(confusion.values()) == 768
    # the whole data set is the training rows plus the hold-out rows: the worker's count of correct rows
    # agrees with the two accuracies recorded at training (to within a row of float32 rounding)
    recorded = metadata["train_accuracy"] * (768 - holdout["rows"]) + holdout["accuracy"] * holdout["rows"]
    assert data_set["correct"] == pytest.approx(recorded, abs=1.5)


def test_predictions_page(mlapp_client):
    response = mlapp_client.get("/predictions?rows=15")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="accuracy"' in page and "%" in page
    for element in ("holdout-accuracy", "baseline-accuracy", "holdout-precision", "holdout-recall"):
        assert f'id="{element}"' in page, element
    for element in ("holdout-f1", "holdout-roc-auc", "holdout-confusion", "dataset-accuracy"):
        assert f'id="{element}"' in page, element
    assert page.count('<tr class="correct">') + page.count('<tr class="wrong">') == 15
    assert "<svg" in page and 'class="bar"' in page


def test_accuracy_page(mlapp_client, mlapp_session_worker, mlapp_session_host):
    page = mlapp_client.get("/accuracy").get_data(as_text=True)
    assert 'id="accuracy"' in page and 'id="confusion"' in page
    assert f"{mlapp_session_worker} on {mlapp_session_host}" in page
    api = mlapp_client.get("/api/accuracy").get_json()
    assert (api["worker"], api["host"]) == (mlapp_session_worker, mlapp_session_host)


def test_healthz_is_ok_and_status_reports_the_worker_and_its_host(
    mlapp_client, mlapp_session_worker, mlapp_session_host
):
    response = mlapp_client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    body = mlapp_client.get("/status", headers={"Accept": "application/json"}).get_json()
    assert body["status"] == "ok" and body["broker"] == "ok"
    assert body["workers"] == [mlapp_session_worker]
    assert body["hosts"] == {mlapp_session_host: [mlapp_session_worker]}


def test_status_page_lists_the_worker_under_its_host(mlapp_client, mlapp_session_worker, mlapp_session_host):
    response = mlapp_client.get("/status")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'id="broker" class="ok">reachable<' in page
    [row] = re.findall(r"<tbody>(.*?)</tbody>", page, re.S)
    assert f'class="text host">{mlapp_session_host}<' in row
    assert f"<code>{mlapp_session_worker}</code>" in row and 'class="count">1<' in row
    assert 'id="no-workers"' not in page


def test_invalid_rows_never_reach_the_worker(mlapp_client):
    response = mlapp_client.post("/api/predict", json=[*ROW[:7], -3])
    assert response.status_code == 400


valid_rows = st.lists(
    st.lists(st.floats(min_value=0, max_value=MAX_FEATURE_VALUE), min_size=8, max_size=8),
    min_size=1,
    max_size=20,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=valid_rows)
def test_any_valid_rows_get_one_probability_each(mlapp_client, rows):
    body = predict(mlapp_client, rows)
    assert body["count"] == len(rows)
    assert all(0.0 <= p["probability"] <= 1.0 for p in body["predictions"])
