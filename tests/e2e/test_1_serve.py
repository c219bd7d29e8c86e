"""From nothing to serving on local machines with the quickstart's `make up`, then idempotence and healing
drills (issue 7). The session's stack (conftest.py) is shared with the modules after this one.
"""

from __future__ import annotations

import concurrent.futures
import re
import time

import pytest

from tests.browser import chromium
from tests.e2e.stack import KNOWN_ROW, Stack, http_json, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.machines, pytest.mark.slow]

RELEASE = "/opt/mlstack/current"
ENV_FILE = "/opt/mlstack/shared/mlstack.env"
COMPOSE_PS = (
    "sudo docker ps --filter label=com.docker.compose.project=mlstack --format '{{.Names}} {{.State}}'"
)


def healthy_after(stack: Stack, log_name: str) -> dict[str, int]:
    """Re-run ansible-playbook configuration.yml; assert it succeeded and the app answers again."""
    run = stack.playbook(log_name)
    assert run.rc == 0, run.explain()
    assert set(run.recap) >= {"prodserver", "devserver"}, run.explain()
    wait_healthy(stack.app_url, timeout=120)
    status, body = http_json(f"{stack.app_url}/api/predict", KNOWN_ROW)
    assert status == 200, body
    return run.changed()


def app_containers(stack: Stack) -> dict[str, str]:
    lines = stack.ssh("prodserver", COMPOSE_PS).split("\n")
    return dict(line.split(" ", 1) for line in lines if line.strip())


def test_first_run_serves_predictions(stack: Stack, first_run) -> None:
    assert set(first_run.recap) >= {"prodserver", "devserver"}, first_run.explain()
    assert all(counts["failed"] == 0 for counts in first_run.recap.values())
    health = wait_healthy(stack.app_url, timeout=60)
    assert health["status"] == "ok", health
    status, body = http_json(f"{stack.app_url}/api/predict", KNOWN_ROW)
    assert status == 200, body
    [prediction] = body["predictions"]
    assert prediction["outcome"] in (0, 1)
    assert 0.0 <= prediction["probability"] <= 1.0


def test_predictions_page_in_browser(stack: Stack, first_run) -> None:
    from selenium.webdriver.common.by import By

    with chromium(stack.workdir / "chromium") as browser:
        browser.get(f"{stack.app_url}/predictions")
        accuracy = browser.find_element(By.ID, "accuracy").text
        assert re.fullmatch(r"\d+\.\d\d%", accuracy), accuracy
        baseline = browser.find_element(By.ID, "baseline-accuracy").text  # always "no diabetes"
        assert re.fullmatch(r"\d+\.\d\d%", baseline), baseline
        assert float(accuracy.rstrip("%")) > float(baseline.rstrip("%")) + 3.0
        rows = browser.find_elements(By.CSS_SELECTOR, "#predictions tbody tr")
        assert rows, "the true/predicted table is empty"
        for row in rows:
            cells = [td.text for td in row.find_elements(By.TAG_NAME, "td")]
            assert cells[-3] in {"0", "1"} and cells[-2] in {"0", "1"}, cells
        assert browser.save_screenshot(str(stack.workdir / "predictions.png"))


def test_devserver_trains(stack: Stack, first_run) -> None:
    out = stack.ssh(
        "devserver",
        "~/mlstack/venv/bin/python -c 'import tensorflow as tf; print(tf.__version__)'",
    )
    assert re.match(r"2\.\d+", out.strip()), out


def test_second_run_changes_nothing(stack: Stack, first_run) -> None:
    run = stack.make_up("2-rerun")
    assert run.rc == 0, run.explain()
    assert run.recap, run.explain()
    assert run.changed() == {host: 0 for host in run.recap}, run.explain()
    print(f"e2e: no-op re-run took {run.seconds:.0f}s")


def test_heals_removed_containers(stack: Stack, first_run) -> None:
    stack.ssh(
        "prodserver",
        "sudo docker rm -f $(sudo docker ps -aq --filter label=com.docker.compose.project=mlstack)",
    )
    assert app_containers(stack) == {}
    changed = healthy_after(stack, "3-heal-containers")
    assert changed["prodserver"] > 0
    states = app_containers(stack)
    assert sorted(states.values()) == ["running"] * 4, states  # rabbitmq, web, 2 workers


def test_heals_deleted_release_file(stack: Stack, first_run) -> None:
    target = f"{RELEASE}/compose.yaml"
    before = stack.ssh("prodserver", f"sha256sum {target}")
    stack.ssh("prodserver", f"sudo rm {target}")
    changed = healthy_after(stack, "4-heal-release-file")
    assert changed["prodserver"] > 0
    assert stack.ssh("prodserver", f"sha256sum {target}") == before


def test_heals_edited_env_file(stack: Stack, first_run) -> None:
    before = stack.ssh("prodserver", f"sudo sha256sum {ENV_FILE}")
    stack.ssh("prodserver", f"sudo sed -i 's/^PREDICT_TIMEOUT=.*/PREDICT_TIMEOUT=1/' {ENV_FILE}")
    assert stack.ssh("prodserver", f"sudo sha256sum {ENV_FILE}") != before
    changed = healthy_after(stack, "5-heal-env-file")
    assert changed["prodserver"] > 0
    assert stack.ssh("prodserver", f"sudo sha256sum {ENV_FILE}") == before


def test_heals_stopped_docker_engine(stack: Stack, first_run) -> None:
    stack.ssh("prodserver", "sudo systemctl stop docker.socket docker.service")
    assert stack.ssh("prodserver", "systemctl is-active docker", check=False).strip() != "active"
    changed = healthy_after(stack, "6-heal-docker")
    assert changed["prodserver"] > 0
    assert stack.ssh("prodserver", "systemctl is-active docker").strip() == "active"


def test_heals_removed_package(stack: Stack, first_run) -> None:
    # The Compose v2 plugin (Debian's docker-compose package, the offline install source).
    stack.ssh("prodserver", "sudo DEBIAN_FRONTEND=noninteractive apt-get remove -y -q docker-compose")
    assert "Docker Compose" not in stack.ssh("prodserver", "docker compose version 2>&1 || true")
    changed = healthy_after(stack, "7-heal-package")
    assert changed["prodserver"] > 0
    assert "Docker Compose version" in stack.ssh("prodserver", "docker compose version")


def test_killed_worker_loses_no_prediction(stack: Stack, first_run) -> None:
    workers = [name for name in app_containers(stack) if "worker" in name]
    assert len(workers) == 2, workers
    requests = 60

    def predict(_: int) -> int:
        return http_json(f"{stack.app_url}/api/predict", KNOWN_ROW, timeout=60)[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(predict, n) for n in range(requests)]
        time.sleep(0.3)  # predictions are in flight
        stack.ssh("prodserver", f"sudo docker kill {workers[0]}")
        statuses = [f.result() for f in futures]
    assert statuses == [200] * requests
    healthy_after(stack, "8-heal-killed-worker")
    assert sorted(app_containers(stack).values()) == ["running"] * 4
