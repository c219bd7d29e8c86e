"""Workers on two "machines" (MACHINE_HOST=it-host-a and it-host-b, started as the worker image starts
them): /status groups them by host, and each prediction names the host whose worker ran it."""

from __future__ import annotations

import re
import threading
import time

import pytest
from app_services import ROW, copy_model, make_config, start_worker

from mlapp.nodes import host_of
from mlapp.web import create_app
from mlapp.web.health import CACHE_SECONDS

JSON = {"Accept": "application/json"}


@pytest.mark.timeout(300)
def test_workers_on_two_hosts_are_grouped_and_both_serve(mlapp_empty_vhost, mlapp_models, tmp_path):
    served = tmp_path / "served"
    copy_model(mlapp_models["a"].path, served)
    delay = {"MLAPP_TEST_TASK_DELAY": "1"}  # a task holds its worker long enough for the other to get one
    app = create_app(make_config(mlapp_empty_vhost.url))
    workers = {}
    try:
        for host in ("it-host-a", "it-host-b"):
            workers[host] = start_worker(
                mlapp_empty_vhost.url, served, tmp_path, machine_host=host, extra_env=delay, test_hooks=True
            )
        nodes = {host: node for host, (_, node) in workers.items()}
        client = app.test_client()

        health = client.get("/status", headers=JSON).get_json()
        assert health["status"] == "ok"
        assert client.get("/healthz").get_json() == {"status": "ok"}
        assert health["hosts"] == {"it-host-a": [nodes["it-host-a"]], "it-host-b": [nodes["it-host-b"]]}
        assert health["workers"] == sorted(nodes.values())

        page = client.get("/status").get_data(as_text=True)
        assert 'id="worker-count">2 on 2 hosts<' in page
        assert re.findall(r'class="text host">(.*?)<', page) == ["it-host-a", "it-host-b"]

        # two requests at a time: with prefetch 1 the second task goes to the worker not busy with the first
        answers: list[dict] = []

        def request() -> None:
            for _ in range(2):
                response = app.test_client().post("/api/predict", json=ROW)
                answers.append({"status": response.status_code, **(response.get_json() or {})})

        threads = [threading.Thread(target=request, daemon=True) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert len(answers) == 4 and all(a["status"] == 200 for a in answers), answers
        assert all(nodes[a["host"]] == a["worker"] and host_of(a["worker"]) == a["host"] for a in answers)
        assert {a["host"] for a in answers} == {"it-host-a", "it-host-b"}

        workers.pop("it-host-b")[0].stop()
        time.sleep(CACHE_SECONDS)  # the probe's answer is cached for that long
        health = client.get("/status", headers=JSON).get_json()
        assert health["hosts"] == {"it-host-a": [nodes["it-host-a"]]}
    finally:
        for worker, _ in workers.values():
            worker.stop()
        app.extensions["mlapp"].celery.close()
