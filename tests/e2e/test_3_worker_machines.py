"""Scaling out to worker machines and back in, on the session's stack (issue 8): predictions served on every
worker machine, a re-run with changed=0, a git push reaching every worker machine, the delivery key's
account (issue 13), nothing lost while a worker machine is drained or stopped.
"""

from __future__ import annotations

import collections
import concurrent.futures
import re
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.e2e.stack import KNOWN_ROW, Stack, http_json, wait_healthy

pytestmark = [pytest.mark.e2e, pytest.mark.machines, pytest.mark.slow]


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
