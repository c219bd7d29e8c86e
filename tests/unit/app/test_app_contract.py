"""The API contract with the broker boundary replaced by an in-process fake (fake_dispatcher.py): 200s
with the workers' answers under /api/v1 and /api (the same handlers), the 503 and 502 paths (unavailable
model, unavailable data, a worker error, too many waiting requests) with Retry-After and public messages
only (the details go to the log with the request id), and the classification of the exceptions a worker
raises, by class, as Celery recreates them from a result message."""

from __future__ import annotations

import logging

import pytest
from celery import Celery

from mlapp.celery_app import EVALUATE_TASK, PREDICT_TASK
from mlapp.errors import DataUnavailable, ModelUnavailable
from mlapp.web.dispatch import Dispatcher, WorkerFailed, WorkerUnavailable, failure, unavailable

ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]
PREDICTED = {
    "predictions": [{"outcome": 1, "probability": 0.73}],
    "model": {"sha256": "cd" * 32, "holdout_accuracy": 0.77, "train_accuracy": 0.8},
    "worker": "prodserver@abc",
    "host": "prodserver",
}
CONFUSION = {"tn": 428, "fp": 72, "fn": 102, "tp": 166}
EVALUATED = {
    "accuracy": 0.766,
    "holdout": None,
    "train_accuracy": None,
    "data_set": {"accuracy": 0.773, "rows": 768, "correct": 594, "confusion": CONFUSION},
    "sample": [],
    "data_sha256": "ab" * 32,
    "model": {"sha256": "cd" * 32, "holdout_accuracy": None, "train_accuracy": 0.77},
    "worker": "prodserver@abc",
    "host": "prodserver",
}
SECRET_DETAIL = "no model at /srv/mlstack/model/model.keras: [Errno 2] No such file or directory"


@pytest.mark.parametrize("path", ["/api/v1/predict", "/api/predict"])
def test_predict_answers_200_with_the_workers_answer(mlapp_fake_client, mlapp_fake_dispatcher, path):
    mlapp_fake_dispatcher.answers[PREDICT_TASK] = PREDICTED
    response = mlapp_fake_client.post(path, json={"rows": [ROW, ROW]})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"count": 1, **PREDICTED}
    assert mlapp_fake_dispatcher.calls == [(PREDICT_TASK, ([ROW, ROW],))]


def test_accuracy_and_pages_answer_200(mlapp_fake_client, mlapp_fake_dispatcher):
    mlapp_fake_dispatcher.answers[EVALUATE_TASK] = EVALUATED
    for path in ("/api/v1/accuracy", "/api/accuracy"):
        body = mlapp_fake_client.get(path).get_json()
        assert body["data_set"]["confusion"] == CONFUSION and "sample" not in body
    for path in ("/predictions", "/accuracy"):
        response = mlapp_fake_client.get(path)
        assert response.status_code == 200 and response.mimetype == "text/html"
        assert "prodserver@abc" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "reason,path,task",
    [("model", "/api/v1/predict", PREDICT_TASK), ("data", "/api/v1/accuracy", EVALUATE_TASK)],
)
def test_unavailable_model_or_data_is_503_without_internals(
    mlapp_fake_client, mlapp_fake_dispatcher, caplog, reason, path, task
):
    mlapp_fake_dispatcher.answers[task] = unavailable(reason, f"{task} 1234: {SECRET_DETAIL}")
    with caplog.at_level(logging.WARNING, logger="mlapp.web.errors"):
        method = "POST" if task == PREDICT_TASK else "GET"
        response = mlapp_fake_client.open(path, method=method, json=ROW, headers={"X-Request-ID": "req-42"})
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_json()
    assert body["error"] == f"unavailable_{reason}"
    assert "/srv" not in body["message"] and "Errno" not in body["message"]
    assert SECRET_DETAIL in caplog.text and "req-42" in caplog.text  # the detail is logged instead


def test_worker_error_is_502_without_internals(mlapp_fake_client, mlapp_fake_dispatcher, caplog):
    detail = "model.predict 99 failed on the worker: KeyError: '/opt/app/mlapp/worker/tasks.py line 3'"
    mlapp_fake_dispatcher.answers[PREDICT_TASK] = WorkerFailed(PREDICT_TASK, detail)
    with caplog.at_level(logging.ERROR, logger="mlapp.web.errors"):
        response = mlapp_fake_client.post("/api/predict", json=ROW, headers={"X-Request-ID": "req-7"})
    assert response.status_code == 502
    body = response.get_json()
    assert body["error"] == "worker_error"
    assert "/opt" not in body["message"] and "KeyError" not in body["message"]
    assert detail in caplog.text and "req-7" in caplog.text


def test_a_request_over_the_waiting_limit_is_503_busy_at_once(mlapp_offline_config):
    dispatcher = Dispatcher(celery=Celery(broker=mlapp_offline_config.broker_url), timeout=30, max_waiting=1)
    dispatcher._slots.acquire()  # one request already waits for a worker
    with pytest.raises(WorkerUnavailable) as caught:
        dispatcher.call(PREDICT_TASK, [ROW])
    assert caught.value.reason == "busy" and caught.value.retry_after == 1


BACKEND = Celery(backend="cache+memory://").backend


def _through_celery(exc: BaseException) -> BaseException:
    """The exception as the web gets it back: serialised by the worker's result backend, recreated here."""
    return BACKEND.exception_to_python(BACKEND.prepare_exception(exc, serializer="json"))


# Same class name as a worker's "no model" error, from a module the web does not have: a look-alike that
# must not be read as one (matching names as strings did).
LOOK_ALIKE = {"exc_type": "ModelUnavailable", "exc_module": "elsewhere.errors", "exc_message": ["x"]}


def test_worker_exceptions_are_classified_by_class_after_celery_recreates_them():
    for exc, reason in ((ModelUnavailable(SECRET_DETAIL), "model"), (DataUnavailable("gone"), "data")):
        recreated = _through_celery(exc)
        assert type(recreated) is type(exc)
        answer = failure(PREDICT_TASK, "1", recreated)
        assert isinstance(answer, WorkerUnavailable) and answer.reason == reason
        assert SECRET_DETAIL not in answer.message
    look_alike = BACKEND.exception_to_python(LOOK_ALIKE)
    assert type(look_alike).__name__ == "ModelUnavailable"
    for exc in (look_alike, _through_celery(KeyError("k")), _through_celery(RuntimeError("/opt/secret"))):
        answer = failure(PREDICT_TASK, "1", exc)
        assert isinstance(answer, WorkerFailed) and "/opt/secret" not in answer.message
