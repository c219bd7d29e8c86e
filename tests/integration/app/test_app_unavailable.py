"""No worker on the broker, or no broker at all: every request that waits on a worker answers 503 with
a clear message once PREDICT_TIMEOUT has passed, never hangs, and never runs stale tasks later."""

from __future__ import annotations

import pytest
from app_services import ROW, copy_model, free_port, make_config, start_worker

from mlapp.web import create_app


@pytest.fixture
def lonely_app(mlapp_empty_vhost):
    """A web app on a vhost no worker consumes from, waiting at most 2 s."""
    app = create_app(make_config(mlapp_empty_vhost.url, predict_timeout=2.0, health_timeout=1.0))
    yield app
    app.extensions["mlapp"].celery.close()


@pytest.mark.timeout(60)
def test_predict_without_a_worker_is_503_json(lonely_app):
    response = lonely_app.test_client().post("/api/predict", json=ROW)
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "unavailable_timeout"
    assert "no worker answered within 2 s" in body["message"]


@pytest.mark.timeout(60)
def test_pages_without_a_worker_are_503_html(lonely_app):
    for path in ("/predictions", "/accuracy"):
        response = lonely_app.test_client().get(path, headers={"Accept": "text/html"})
        assert response.status_code == 503
        assert response.mimetype == "text/html"
        assert "no worker answered" in response.get_data(as_text=True)


@pytest.mark.timeout(60)
def test_healthz_without_a_worker_is_503(lonely_app):
    response = lonely_app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}
    body = lonely_app.test_client().get("/status", headers={"Accept": "application/json"}).get_json()
    assert body["broker"] == "ok" and body["workers"] == []
    assert "no worker answered" in body["message"]


@pytest.mark.timeout(60)
def test_without_a_broker_everything_is_503():
    app = create_app(make_config(f"amqp://u:p@127.0.0.1:{free_port()}//", predict_timeout=2.0))
    client = app.test_client()
    assert client.post("/api/predict", json=ROW).get_json()["error"] == "unavailable_broker"
    assert client.get("/predictions").status_code == 503
    assert client.get("/healthz").status_code == 503


@pytest.mark.timeout(180)
def test_requests_that_timed_out_are_not_run_later(lonely_app, mlapp_empty_vhost, mlapp_models, tmp_path):
    client = lonely_app.test_client()
    assert client.post("/api/predict", json=ROW).status_code == 503  # queued, expires after 2 s
    copy_model(mlapp_models["b"].path, tmp_path / "model")
    worker, _ = start_worker(mlapp_empty_vhost.url, tmp_path / "model", tmp_path, name="late")
    try:
        assert client.post("/api/predict", json=ROW).status_code == 200
        # only the fresh request ran: the stale one expired (dropped by RabbitMQ or revoked by the worker).
        # The worker logs "succeeded" after it has sent the result: wait for that line, then for any other.
        worker.wait_for_log(r"succeeded in", timeout=30)
        worker.stop()
        assert worker.log().count("succeeded in") == 1
    finally:
        worker.stop()
