"""The common role's SSH baseline and automatic updates, checked with a real ssh client.

prodserver and devserver run the common role alone, with its defaults (automatic updates on, which the
full-stack tests switch off on their throwaway machines) and prodserver as the jump host, as
playbooks/prodserver.yml makes it. Then, from this host through the machines' loopback ports: X11, agent
and TCP forwarding are refused; prodserver forwards to port 22 of devserver (how worker machines without a
public address are reached) and to nothing else; sshd's effective options are dev-sec's baseline;
unattended-upgrades is installed and switched on; a second run changes nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from provisioner.inventory import write_inventory
from tests.integration.roles.playbook import Run, run_configuration
from tests.machines_fixtures import LocalMachines, docker_engine, machine_settings, machines_up  # noqa: F401

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "artifacts" / "roles-tests"
PLAYBOOK = textwrap.dedent(
    f"""\
    ---
    - name: The common role alone, prodserver as the jump host (as playbooks/prodserver.yml makes it)
      hosts: prodserver:devserver
      become: true
      vars:
        common_ssh_jump_host: "{{{{ inventory_hostname == 'prodserver' }}}}"
      pre_tasks:
        - name: Refresh the apt cache when it is older than its validity
          ansible.builtin.import_tasks: {REPO / "playbooks" / "tasks" / "apt-cache.yml"}
      roles:
        - role: common
    """
)
REFUSED = "administratively prohibited"


@dataclass
class Hardened:
    machines: LocalMachines
    first: Run
    second: Run

    def forward(self, role: str, target: str) -> subprocess.CompletedProcess[str]:
        """``ssh -W target`` through ``role``: the remote end's first bytes, or the refusal on stderr."""
        argv = self.machines.ssh_argv(role, options=("-W", target))
        return subprocess.run(argv, input="", capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def hardened(docker_engine: None) -> Iterator[Hardened]:  # noqa: F811
    workdir = Path(tempfile.mkdtemp(prefix="mlstack-ssh-baseline-"))
    playbook, vars_file, log = workdir / "common.yml", workdir / "vars.yml", workdir / "ansible.log"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    vars_file.write_text(yaml.safe_dump({}), encoding="utf-8")
    print(f"ansible output: {log}")
    try:
        settings = machine_settings(workdir / "machines")
        with machines_up(settings) as machines:
            inventory = write_inventory(machines.machines, settings.inventory_dir, settings.known_hosts)
            first = run_configuration(inventory, vars_file, log=log, playbook=playbook, timeout=900)
            assert first.rc == 0 and first.total("failed") == 0, first.explain()
            second = run_configuration(inventory, vars_file, log=log, playbook=playbook, timeout=900)
            print(f"first run {first.seconds:.0f} s, second run {second.seconds:.0f} s")
            yield Hardened(machines, first, second)
    finally:
        if log.exists():  # kept for reading after the fact: artifacts/ is git-ignored
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, ARTIFACTS / f"ssh-baseline-{time.strftime('%Y%m%d-%H%M%S')}.log")
        shutil.rmtree(workdir, ignore_errors=True)


def test_a_second_run_changes_nothing(hardened: Hardened) -> None:
    assert hardened.second.rc == 0, hardened.second.explain()
    assert hardened.second.total("changed") == 0, hardened.second.changed_tasks()


def test_tcp_forwarding_is_refused_where_the_host_is_no_jump_host(hardened: Hardened) -> None:
    refused = hardened.forward("devserver", "127.0.0.1:22")
    assert REFUSED in refused.stderr, refused


def test_the_jump_host_forwards_to_ssh_and_nothing_else(hardened: Hardened) -> None:
    devserver = hardened.machines["devserver"].private_address
    hop = hardened.forward("prodserver", f"{devserver}:22")
    assert hop.stdout.startswith("SSH-2.0-"), hop
    other_port = hardened.forward("prodserver", f"{devserver}:80")
    assert REFUSED in other_port.stderr, other_port


def test_x11_forwarding_is_refused(hardened: Hardened) -> None:
    env = dict(os.environ, DISPLAY=":0")
    argv = hardened.machines.ssh_argv("prodserver", "true", options=("-X",))
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "X11 forwarding request failed" in result.stderr, result


def test_agent_forwarding_is_refused(hardened: Hardened, tmp_path: Path) -> None:
    socket = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(50):
            if socket.exists():
                break
            time.sleep(0.1)
        env = dict(os.environ, SSH_AUTH_SOCK=str(socket))
        argv = hardened.machines.ssh_argv("devserver", "echo agent=${SSH_AUTH_SOCK:-none}", options=("-A",))
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result
        assert result.stdout.strip() == "agent=none", result
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=10)


@pytest.mark.parametrize("role", ["prodserver", "devserver"])
def test_sshd_runs_with_the_baseline(hardened: Hardened, role: str) -> None:
    effective = hardened.machines.docker_exec(role, "sshd", "-T")
    assert effective.returncode == 0, effective.stderr
    options = dict(line.split(" ", 1) for line in effective.stdout.splitlines() if " " in line)
    expected = {
        "passwordauthentication": "no",
        "permitrootlogin": "no",
        "x11forwarding": "no",
        "allowagentforwarding": "no",
        "allowstreamlocalforwarding": "no",
        "permittunnel": "no",
        "permituserenvironment": "no",
        "maxauthtries": "3",
        "loglevel": "VERBOSE",
        "allowtcpforwarding": "local" if role == "prodserver" else "no",
    }
    assert {name: options.get(name) for name in expected} == expected


def test_security_updates_are_automatic(hardened: Hardened) -> None:
    machines = hardened.machines
    installed = machines.docker_exec("devserver", "dpkg-query", "-W", "-f=${Status}", "unattended-upgrades")
    assert installed.stdout == "install ok installed", installed
    periodic = machines.docker_exec("devserver", "apt-config", "dump", "APT::Periodic")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic.stdout, periodic.stdout
    assert 'APT::Periodic::Update-Package-Lists "1";' in periodic.stdout, periodic.stdout
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):  # (masked in the machine image)
        enabled = machines.docker_exec("devserver", "systemctl", "is-enabled", timer)
        assert enabled.stdout.strip() == "enabled", enabled
        active = machines.docker_exec("devserver", "systemctl", "is-active", timer)
        assert active.stdout.strip() == "active", active
