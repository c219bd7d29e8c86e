"""The docker role's daemon.json and docker-autoheal, on a local machine (Docker Engine inside a systemd
container, as the launcher's local machines run it).

daemon.json is the role's base options (live-restore) merged with the network's (the MTU the OpenStack
launcher passes, provisioner/netvars.py) and the user's docker_daemon_options: all three reach the file and
the running daemon, and a second run changes nothing (so the handler does not restart Docker). With
live-restore a container keeps running, the same process, while dockerd restarts. docker-autoheal's timer
restarts a labelled container whose healthcheck reports unhealthy, and leaves an unlabelled one alone.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from provisioner import netvars
from provisioner.inventory import write_inventory
from provisioner.machine import Machine
from provisioner.offline import LOCAL_MACHINE_VARS
from tests.integration.roles.playbook import Run, docker_role_playbook, keep_log, run_configuration
from tests.machines_fixtures import LocalMachines, docker_engine, machine_settings, machines_up  # noqa: F401

pytestmark = [pytest.mark.docker, pytest.mark.machines]

PLAYBOOK = docker_role_playbook("Docker Engine as playbooks/prodserver.yml runs it")
USER_OPTIONS = {"log-driver": "json-file", "log-opts": {"max-size": "5m", "max-file": "2"}, "debug": False}
NETWORK_MTU = 1450
# A tiny image made on the machine from its own files: sleep, a shell for healthchecks, libc.
MAKE_IMAGE = (
    "tar -C / -ch usr/bin/sleep bin/sh usr/lib/x86_64-linux-gnu/libc.so.6 lib64/ld-linux-x86-64.so.2"
    ' | docker import -c \'CMD ["/usr/bin/sleep", "infinity"]\' - mlstack-test/sleeper:1'
)


@dataclass
class DaemonRuns:
    machines: LocalMachines
    network_vars: dict[str, object]
    first: Run
    second: Run

    def sh(self, script: str) -> str:
        result = self.machines.docker_exec("prodserver", "sh", "-ec", script)
        assert result.returncode == 0, f"{script}: {result.stdout}{result.stderr}"
        return result.stdout.strip()


@pytest.fixture(scope="module")
def daemon_runs(docker_engine: None) -> Iterator[DaemonRuns]:  # noqa: F811
    workdir = Path(tempfile.mkdtemp(prefix="mlstack-docker-daemon-"))
    log = workdir / "ansible.log"
    print(f"ansible output: {log}")
    try:
        with machines_up(machine_settings(workdir / "machines")) as machines:
            settings = machines.settings
            # What the launcher passes on a 1450-byte network (netvars), the user's own options beside it.
            network = netvars.docker_mtu_vars(
                [Machine(name="p", role="prodserver", address="127.0.0.1", extra={"mtu": "1450"})]
            )
            values = dict(
                LOCAL_MACHINE_VARS,
                docker_install_source="distro",
                docker_daemon_options=USER_OPTIONS,
                docker_autoheal_interval="3s",
                **network,
            )
            vars_file = workdir / "vars.yml"
            vars_file.write_text(yaml.safe_dump(values), encoding="utf-8")
            playbook = workdir / "docker.yml"
            playbook.write_text(PLAYBOOK, encoding="utf-8")
            inventory = write_inventory(machines.machines, settings.inventory_dir, settings.known_hosts)
            first = run_configuration(inventory, vars_file, log=log, playbook=playbook, timeout=900)
            second = run_configuration(inventory, vars_file, log=log, playbook=playbook, timeout=900)
            print(f"first run {first.seconds:.0f} s, second run {second.seconds:.0f} s")
            yield DaemonRuns(machines, network, first, second)
    finally:
        keep_log(log, "docker-daemon")
        shutil.rmtree(workdir, ignore_errors=True)


def test_daemon_json_merges_the_base_the_network_and_the_users_options(daemon_runs: DaemonRuns) -> None:
    runs = daemon_runs
    assert runs.first.rc == 0 and runs.first.total("failed") == 0, runs.first.explain()
    assert runs.network_vars == {"docker_daemon_network_options": {"mtu": NETWORK_MTU}}
    daemon_json = json.loads(runs.sh("cat /etc/docker/daemon.json"))
    assert daemon_json == {"live-restore": True, "mtu": NETWORK_MTU, **USER_OPTIONS}
    # The running daemon took them.
    assert runs.sh("docker info --format '{{.LiveRestoreEnabled}}'") == "true"
    mtu = runs.sh(
        "docker network inspect bridge --format '{{index .Options \"com.docker.network.driver.mtu\"}}'"
    )
    assert mtu == str(NETWORK_MTU)


def test_a_second_run_changes_nothing(daemon_runs: DaemonRuns) -> None:
    runs = daemon_runs
    assert runs.second.rc == 0, runs.second.explain()
    assert runs.second.changed("prodserver") == 0, runs.second.changed_tasks()
    assert "RUNNING HANDLER [docker : Restart docker]" not in runs.second.output


def test_containers_keep_running_while_dockerd_restarts(daemon_runs: DaemonRuns) -> None:
    runs = daemon_runs
    runs.sh(MAKE_IMAGE)
    runs.sh("docker run -d --name live-restore-probe mlstack-test/sleeper:1 >/dev/null")
    fmt = "'{{.State.Pid}} {{.State.StartedAt}} {{.State.Running}}'"
    before = runs.sh(f"docker inspect --format {fmt} live-restore-probe")
    daemon_pid = runs.sh("systemctl show --property MainPID --value docker")
    runs.sh("systemctl restart docker")
    assert runs.sh("systemctl show --property MainPID --value docker") != daemon_pid, "dockerd restarted"
    after = runs.sh(f"docker inspect --format {fmt} live-restore-probe")
    assert after == before and after.endswith(" true"), (before, after)
    pid = before.split()[0]
    assert runs.sh(f"cat /proc/{pid}/cmdline | tr '\\0' ' '").startswith("/usr/bin/sleep infinity")


def test_autoheal_restarts_a_labelled_unhealthy_container(daemon_runs: DaemonRuns) -> None:
    runs = daemon_runs
    assert runs.sh("systemctl is-active docker-autoheal.timer") == "active"
    assert runs.sh("systemctl is-enabled docker-autoheal.timer") == "enabled"
    runs.sh(MAKE_IMAGE)
    unhealthy = "--health-cmd 'exit 1' --health-interval 1s --health-retries 1 --health-start-period 0s"
    runs.sh(f"docker run -d --name sick --label org.mlstack.autoheal=true {unhealthy} mlstack-test/sleeper:1")
    runs.sh(f"docker run -d --name sick-unlabelled {unhealthy} mlstack-test/sleeper:1")
    fmt = "'{{.State.StartedAt}} {{.State.Health.Status}}'"
    started = {
        name: runs.sh(f"docker inspect --format {fmt} {name}").split()[0]
        for name in ("sick", "sick-unlabelled")
    }
    deadline = time.monotonic() + 60
    while runs.sh(f"docker inspect --format {fmt} sick").split()[0] == started["sick"]:
        assert time.monotonic() < deadline, runs.sh("journalctl -u docker-autoheal --no-pager | tail -20")
        time.sleep(2)
    journal = runs.sh("journalctl -u docker-autoheal --no-pager")
    assert "docker-autoheal: restarted sick (" in journal, journal
    unlabelled = runs.sh(f"docker inspect --format {fmt} sick-unlabelled")
    assert unlabelled == f"{started['sick-unlabelled']} unhealthy", "Docker alone leaves it unhealthy"
    assert "sick-unlabelled" not in journal
