"""The web front keeps answering while predictions wait: gunicorn (the repository's gunicorn.conf.py) on a
vhost no Celery worker consumes from, many concurrent POST /api/predict each waiting for PREDICT_TIMEOUT,
and /livez and /healthz must still answer within a generous deadline (sync workers were all held by the
waiting predictions). Figures are printed (pytest -s), not asserted."""

from __future__ import annotations

import http.client
import json
import threading
import time
from urllib.parse import urlparse

import pytest
from app_services import ROW, start_gunicorn

PREDICT_TIMEOUT = 15  # seconds each prediction waits for a worker that never comes
CONCURRENT = 24  # more than the web's threads: 2 processes x 8
ANSWER_DEADLINE = 5.0  # /livez within this (it answers in milliseconds when a thread is free)


def _request(base: str, method: str, path: str, timeout: float) -> tuple[int, dict, float]:
    url = urlparse(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    started = time.monotonic()
    try:
        body = json.dumps(ROW).encode() if method == "POST" else None
        conn.request(method, path, body, {"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = json.loads(response.read() or b"null")
        return response.status, payload, time.monotonic() - started
    finally:
        conn.close()


@pytest.mark.timeout(180)
def test_livez_answers_while_predictions_wait_for_missing_workers(mlapp_empty_vhost, tmp_path):
    web, base = start_gunicorn(
        mlapp_empty_vhost.url, tmp_path, extra_env={"PREDICT_TIMEOUT": str(PREDICT_TIMEOUT)}, workers=2
    )
    answers: list[tuple[int, str, float]] = []

    def predict() -> None:
        try:
            status, body, took = _request(base, "POST", "/api/predict", timeout=PREDICT_TIMEOUT + 30)
            answers.append((status, body.get("error", ""), took))
        except OSError as exc:
            answers.append((0, type(exc).__name__, 0.0))

    threads = [threading.Thread(target=predict, daemon=True) for _ in range(CONCURRENT)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(2)  # the predictions are in flight, waiting for a worker
        assert sum(status == 0 or error == "unavailable_timeout" for status, error, _ in answers) == 0
        try:
            livez = _request(base, "GET", "/livez", timeout=ANSWER_DEADLINE)
            healthz = _request(base, "GET", "/healthz", timeout=ANSWER_DEADLINE)
        except TimeoutError:
            pytest.fail(f"/livez or /healthz did not answer within {ANSWER_DEADLINE} s under load")
        assert livez[:2] == (200, {"status": "ok"})
        assert healthz[:2] == (503, {"status": "unavailable"})
        for thread in threads:
            thread.join(timeout=PREDICT_TIMEOUT + 40)
        statuses = sorted({(status, error) for status, error, _ in answers})
        waited = [took for _, error, took in answers if error == "unavailable_timeout"]
        busy = [took for _, error, took in answers if error == "unavailable_busy"]
        print(
            f"\n{CONCURRENT} predictions waiting {PREDICT_TIMEOUT} s: /livez in {livez[2] * 1000:.0f} ms, "
            f"/healthz in {healthz[2] * 1000:.0f} ms; {len(waited)} timed out after a wait, "
            f"{len(busy)} answered busy in at most {max(busy, default=0) * 1000:.0f} ms; answers {statuses}"
        )
        assert len(answers) == CONCURRENT and {status for status, _, _ in answers} == {503}
    finally:
        web.stop()
