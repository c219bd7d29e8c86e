"""WORKER_CONCURRENCY > 1 forks processes (prefork pool): each one loads its own model and serves."""

from __future__ import annotations

import pytest
from app_services import ROW, copy_model, make_config, start_worker

from mlapp.web import create_app


@pytest.mark.timeout(300)
def test_prefork_worker_loads_the_model_in_each_process(mlapp_empty_vhost, mlapp_models, tmp_path):
    served = tmp_path / "served"
    copy_model(mlapp_models["a"].path, served)
    worker, node = start_worker(mlapp_empty_vhost.url, served, tmp_path, name="prefork", concurrency=2)
    app = create_app(make_config(mlapp_empty_vhost.url))
    try:
        client = app.test_client()
        answers = [client.post("/api/predict", json=ROW) for _ in range(6)]
        assert [a.status_code for a in answers] == [200] * 6
        assert {a.get_json()["worker"] for a in answers} == {node}
        assert len({a.get_json()["predictions"][0]["probability"] for a in answers}) == 1
        assert "concurrency: 2 (prefork)" in worker.log()
        worker.wait_for_log(r"(?s)loaded model.*loaded model", timeout=30)  # one load per child process
    finally:
        app.extensions["mlapp"].celery.close()
        worker.stop()
