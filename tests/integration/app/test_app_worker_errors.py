"""The 503 and 502 paths through the real broker and real workers: a worker without a model (503
unavailable_model), a worker without its data set (503 unavailable_data), a task failing on the worker
(502 worker_error). Each answer carries a public message only: no path, no exception text (both go to the
web's log). And the production worker app does not carry the benchmark's reload-per-task task."""

from __future__ import annotations

import logging

import pytest
from app_services import ROW, copy_model, make_config, start_worker
from mlapp_testhooks import PREDICT_RELOAD_TASK

from mlapp.celery_app import PREDICT_TASK
from mlapp.web import create_app

SECRET = "/srv/internal/secret-path"


@pytest.fixture
def web(mlapp_empty_vhost):
    app = create_app(make_config(mlapp_empty_vhost.url, predict_timeout=30.0))
    yield app.test_client()
    app.extensions["mlapp"].celery.close()


def _check_public(response, status: int, error: str, *internals: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["error"] == error
    text = response.get_data(as_text=True)
    for internal in (SECRET, "Errno", "Traceback", "mlapp.", *internals):
        assert internal not in text, internal
    return body


@pytest.mark.timeout(180)
def test_a_worker_without_a_model_is_503_unavailable_model(web, mlapp_empty_vhost, tmp_path, caplog):
    empty = tmp_path / "no-model"
    empty.mkdir()
    worker, _ = start_worker(mlapp_empty_vhost.url, empty, tmp_path, name="nomodel")
    try:
        with caplog.at_level(logging.WARNING, logger="mlapp.web.errors"):
            response = web.post("/api/v1/predict", json=ROW, headers={"X-Request-ID": "it-model-1"})
        _check_public(response, 503, "unavailable_model", str(empty))
        assert int(response.headers["Retry-After"]) > 0
        assert str(empty) in caplog.text and "it-model-1" in caplog.text  # logged instead
    finally:
        worker.stop()


@pytest.mark.timeout(180)
def test_a_worker_without_its_data_set_is_503_unavailable_data(
    web, mlapp_empty_vhost, mlapp_models, tmp_path
):
    served = tmp_path / "served"
    copy_model(mlapp_models["a"].path, served)
    missing = tmp_path / "nowhere" / "dataset.csv"
    worker, _ = start_worker(
        mlapp_empty_vhost.url, served, tmp_path, name="nodata", extra_env={"DATA_FILE": str(missing)}
    )
    try:
        _check_public(web.get("/api/v1/accuracy"), 503, "unavailable_data", str(missing))
        page = web.get("/predictions", headers={"Accept": "text/html"})
        assert page.status_code == 503 and page.mimetype == "text/html"
        assert str(missing) not in page.get_data(as_text=True)
        assert web.post("/api/v1/predict", json=ROW).status_code == 200  # the model itself is fine
    finally:
        worker.stop()


@pytest.mark.timeout(180)
def test_a_task_failing_on_the_worker_is_502(web, mlapp_empty_vhost, mlapp_models, tmp_path):
    served = tmp_path / "served"
    copy_model(mlapp_models["a"].path, served)
    failing = {"MLAPP_TEST_TASK_FAIL": f"cannot open {SECRET}/weights"}
    worker, _ = start_worker(
        mlapp_empty_vhost.url, served, tmp_path, name="failing", extra_env=failing, test_hooks=True
    )
    try:
        body = _check_public(web.post("/api/predict", json=ROW), 502, "worker_error", "RuntimeError")
        assert body["message"]
    finally:
        worker.stop()


def test_the_production_worker_has_no_benchmark_task(mlapp_vhost, mlapp_session_worker):
    from mlapp.celery_app import make_celery
    from mlapp.config import Config

    celery = make_celery(Config(broker_url=mlapp_vhost.url), fail_fast=True)
    try:
        registered = celery.control.inspect(destination=[mlapp_session_worker], timeout=5).registered() or {}
    finally:
        celery.close()
    tasks = {name.split()[0] for name in registered[mlapp_session_worker]}
    assert PREDICT_TASK in tasks
    assert PREDICT_RELOAD_TASK not in tasks
