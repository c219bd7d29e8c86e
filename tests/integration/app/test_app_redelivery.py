"""A worker killed in the middle of a task: the message was not acknowledged (acks_late), so RabbitMQ
hands it to another worker and the waiting request still gets its answer."""

from __future__ import annotations

import threading

import pytest
from app_services import ROW, copy_model, make_config, start_worker

from mlapp.web import create_app


@pytest.mark.timeout(300)
def test_task_of_a_killed_worker_is_redelivered(mlapp_empty_vhost, mlapp_models, tmp_path):
    served = tmp_path / "served"
    copy_model(mlapp_models["a"].path, served)
    app = create_app(make_config(mlapp_empty_vhost.url, predict_timeout=120.0))
    # worker A sleeps 60 s at the start of every task: long enough to be killed in the middle of one
    slow, slow_node = start_worker(
        mlapp_empty_vhost.url,
        served,
        tmp_path,
        name="slow",
        extra_env={"MLAPP_TEST_TASK_DELAY": "60"},
        test_hooks=True,
    )
    fast = None
    answer: dict = {}

    def request() -> None:
        response = app.test_client().post("/api/predict", json=ROW)
        answer["status"] = response.status_code
        answer["body"] = response.get_json()

    thread = threading.Thread(target=request, daemon=True)
    try:
        thread.start()
        slow.wait_for_log(r"Task model\.predict\[[0-9a-f-]+\] received", timeout=30)
        slow.kill()  # SIGKILL, mid-task
        assert not slow.alive
        fast, fast_node = start_worker(mlapp_empty_vhost.url, served, tmp_path, name="fast")
        thread.join(timeout=150)
        assert not thread.is_alive(), "the request is still waiting"
        assert answer["status"] == 200, answer
        assert answer["body"]["worker"] == fast_node != slow_node
        assert answer["body"]["model"]["sha256"] == mlapp_models["a"].sha256
        assert "succeeded" not in slow.log()
    finally:
        slow.stop()
        if fast is not None:
            fast.stop()
        app.extensions["mlapp"].celery.close()
