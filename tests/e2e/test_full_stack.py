"""From nothing to serving on local machines, then idempotence, healing drills, scaling out to worker
machines and back in, and teardown (issues 7 and 8).

One module, one stack, tests in order: each step builds on the previous one. The stack is removed at the
end even when a step fails; logs and the screenshot stay in artifacts/e2e/<prefix>/.
"""

from __future__ import annotations

import collections
import concurrent.futures
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from provisioner import probe
from tests.browser import chromium
from tests.e2e.stack import Stack, http_json, module_stack, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.machines, pytest.mark.slow]

KNOWN_ROW = {  # the first row of the data set (outcome 1)
    "Pregnancies": 6,
    "Glucose": 148,
    "BloodPressure": 72,
    "SkinThickness": 35,
    "Insulin": 0,
    "BMI": 33.6,
    "DiabetesPedigreeFunction": 0.627,
    "Age": 50,
}
RELEASE = "/opt/mlstack/current"
ENV_FILE = "/opt/mlstack/shared/mlstack.env"
COMPOSE_PS = (
    "sudo docker ps --filter label=com.docker.compose.project=mlstack --format '{{.Names}} {{.State}}'"
)
# Variables of the test run on top of the launcher's offline overrides: a short training, two workers.
TEST_VARS = {"model_serving_train_epochs": 20, "model_serving_workers": 2}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with module_stack("e2e", "e2e", TEST_VARS) as created:
        yield created


@pytest.fixture(scope="module")
def first_run(stack: Stack):
    run = stack.make_up("1-up")  # the quickstart's command, no flags: offline mode only if the probes say so
    assert run.rc == 0, run.explain()
    blocked = probe.install_sources_blocked()
    assert ("Offline mode:" in run.output) == bool(blocked), run.explain()
    print(f"e2e: first run (machines + configuration) took {run.seconds:.0f}s")
    return run


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


# --- scale out: worker machines (issue 8) ------------------------------------------------------------------


def worker_machines(stack: Stack) -> list[str]:
    return list(stack.hosts("workers"))


def predict_many(stack: Stack, count: int, threads: int = 6) -> list[tuple[int, Any]]:
    """``count`` predictions of the known row, ``threads`` at a time: (status, body) each."""

    def predict(_: int) -> tuple[int, Any]:
        return http_json(f"{stack.app_url}/api/predict", KNOWN_ROW, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(predict, range(count)))


def serving_hosts(stack: Stack, wanted: set[str], rounds: int = 5) -> collections.Counter[str]:
    """Predictions (40 per round, at most ``rounds``) until every host of ``wanted`` answered one; how many
    each host answered."""
    served: collections.Counter[str] = collections.Counter()
    for _ in range(rounds):
        for status, body in predict_many(stack, 40):
            assert status == 200, body
            served[body["host"]] += 1
        if wanted <= set(served):
            break
    return served


def test_scale_out_to_two_worker_machines(stack: Stack, first_run) -> None:
    run = stack.up("11-workers-2", "--workers", "2")
    assert run.rc == 0, run.explain()
    names = worker_machines(stack)
    assert names == [f"{stack.prefix}-worker-1", f"{stack.prefix}-worker-2"], names
    assert set(run.recap) >= {"prodserver", "devserver", *names}, run.explain()
    print(f"e2e: scaling out to 2 worker machines took {run.seconds:.0f}s")
    health = wait_healthy(stack.app_url, timeout=120)
    assert set(health["hosts"]) >= {"prodserver", *names}, health
    served = serving_hosts(stack, set(names))
    assert set(names) <= set(served), served
    print(f"e2e: predictions per host: {dict(served)}")
    # RabbitMQ's AMQP port is published on prodserver's private address only (not 0.0.0.0, not loopback).
    private = stack.hostvars("prodserver")["private_address"]
    published = stack.ssh("prodserver", "sudo docker port mlstack-rabbitmq-1 5672").split()
    assert published == [f"{private}:5672"], published
    # Secrets are files: `docker inspect` of every container, on prodserver and on a worker machine, shows
    # none of them (environment, command).
    secrets = yaml.safe_load((stack.workdir / "secrets" / "prodserver.yml").read_text(encoding="utf-8"))
    inspect = "sudo docker inspect --format '{{json .Config.Env}} {{json .Args}}' $(sudo docker ps -q)"
    shown = stack.ssh("prodserver", inspect) + stack.ssh("workers", inspect, name=names[0])
    assert [name for name, value in secrets.items() if value in shown] == [], "a secret in docker inspect"


def test_rerun_with_worker_machines_changes_nothing(stack: Stack, first_run) -> None:
    run = stack.up("12-workers-rerun")  # no --workers: the worker machines that exist are kept
    assert run.rc == 0, run.explain()
    assert set(run.recap) >= set(worker_machines(stack)), run.explain()
    assert run.changed() == {host: 0 for host in run.recap}, run.explain()
    print(f"e2e: no-op re-run with 2 worker machines took {run.seconds:.0f}s")


def test_git_push_reaches_every_worker_machine(stack: Stack, first_run) -> None:
    out = stack.ssh(
        "devserver",
        "~/mlstack/train.sh --epochs 2 --seed 11 >/dev/null && ~/mlstack/bin/publish-model >/dev/null && "
        "cd ~/mlstack/deploy && git push production main 2>&1 && sha256sum model/model.keras",
        timeout=1800,
    )
    sha = out.split()[-2]
    for name in worker_machines(stack):
        assert f"{name}: sent" in out, out
    names = set(worker_machines(stack))
    answers = [body for _ in range(3) for status, body in predict_many(stack, 40)]
    assert {body["model"]["sha256"] for body in answers} == {sha}, out
    assert names <= {body["host"] for body in answers}, out


DELIVERY_USER = "mlstack-delivery"


def test_delivery_key_cannot_sudo_reach_docker_or_get_a_shell(stack: Stack, first_run) -> None:
    """prodserver's delivery key logs in to a worker machine as the delivery account: through the key nothing
    but the receive command; the account itself has no docker group and no sudo but that one rule (issue
    13; before, the key logged in as appuser: sudo for everything, docker group)."""
    settings = stack.ssh("prodserver", "cat /etc/mlstack/remote-workers.conf")
    account = re.search(r"^REMOTE_USER=(\S+)$", settings, flags=re.M)
    assert account and account[1].strip("'") == DELIVERY_USER, settings
    name = worker_machines(stack)[0]
    listed = stack.ssh("prodserver", "cat /etc/mlstack/workers.list").splitlines()
    address = next(line.split()[1] for line in listed if line.split()[:1] == [name])
    with_key = (
        "sudo ssh -i /root/.ssh/mlstack_workers -o IdentitiesOnly=yes -o BatchMode=yes "
        "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=/root/.ssh/mlstack_workers_known_hosts "
        f"{DELIVERY_USER}@{address}"
    )
    for command in ("'sudo -n true'", "'docker ps'", "id"):
        out = stack.ssh("prodserver", f"{with_key} {command} 2>&1; echo rc=$?", check=False)
        assert "rc=0" not in out and "uid=" not in out, (command, out)
        assert "mlstack-worker-receive:" in out, (command, out)  # the forced command answered, nothing else
    out = stack.ssh("prodserver", f"{with_key} -tt </dev/null 2>&1; echo rc=$?", check=False)
    assert "rc=0" not in out and "uid=" not in out, out
    assert "PTY allocation request failed" in out, out  # restrict: no terminal, so no interactive shell

    groups = stack.ssh("workers", f"id -nG {DELIVERY_USER}", name=name).split()
    assert groups == [DELIVERY_USER], groups
    as_account = f"sudo -n -u {DELIVERY_USER} --"
    out = stack.ssh("workers", f"{as_account} sudo -n true 2>&1; echo rc=$?", name=name, check=False)
    assert "rc=0" not in out, out
    out = stack.ssh("workers", f"{as_account} docker ps 2>&1; echo rc=$?", name=name, check=False)
    assert "rc=0" not in out and "permission denied" in out.lower(), out
    rules = stack.ssh("workers", f"sudo -l -U {DELIVERY_USER}", name=name)
    allowed = rules.split("may run the following commands", 1)[1].splitlines()[1:]
    assert [line.strip() for line in allowed if line.strip()] == [
        "(root) NOPASSWD: /usr/local/sbin/mlstack-worker-receive"
    ], rules


def under_load(stack: Stack, action: Callable[[], Any], settle: float = 3.0) -> tuple[Any, list[int]]:
    """Run ``action`` while two clients send predictions, each one every 0.1 s or so (until ``settle``
    seconds after it ended; at most 3000 in all); its result and the status of every prediction."""
    statuses: list[int] = []
    done = threading.Event()

    def client() -> None:
        while not done.is_set() and len(statuses) < 3000:
            statuses.append(http_json(f"{stack.app_url}/api/predict", KNOWN_ROW, timeout=60)[0])
            done.wait(0.1)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        clients = [pool.submit(client) for _ in range(2)]
        time.sleep(1.0)  # predictions are in flight
        try:
            result = action()
            time.sleep(settle)
        finally:
            done.set()
        for future in clients:
            future.result()
    return result, statuses


def test_scale_in_drains_a_worker_machine_under_load(stack: Stack, first_run) -> None:
    run, statuses = under_load(stack, lambda: stack.up("13-workers-1", "--workers", "1"))
    assert run.rc == 0, run.explain()
    assert "Draining" in run.output, run.output
    assert worker_machines(stack) == [f"{stack.prefix}-worker-1"]
    assert not [item for item in stack.leftovers() if "worker-2" in item]
    assert statuses and set(statuses) == {200}, collections.Counter(statuses)
    print(f"e2e: {len(statuses)} predictions during the scale-in, all answered")
    health = wait_healthy(stack.app_url, timeout=120)
    assert f"{stack.prefix}-worker-2" not in health["hosts"], health


def test_stopped_worker_machine_loses_no_prediction(stack: Stack, first_run) -> None:
    machine = f"{stack.prefix}-worker-1"
    stop = ["docker", "stop", "-t", "60", machine]
    _, statuses = under_load(stack, lambda: subprocess.run(stop, check=True, timeout=120))
    assert statuses and set(statuses) == {200}, collections.Counter(statuses)
    print(f"e2e: {len(statuses)} predictions while {machine} stopped, all answered")


def test_destroy_leaves_nothing(stack: Stack, first_run) -> None:
    run = stack.launcher("--destroy", log_name="9-destroy", timeout=600)
    assert run.rc == 0, run.explain()
    assert stack.leftovers() == []
    again = stack.launcher("--destroy", log_name="10-destroy-again", timeout=600)
    assert again.rc == 0, again.explain()
