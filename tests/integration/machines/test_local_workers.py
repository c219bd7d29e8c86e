"""``start_instances.py --provider local --workers N``: worker machines come up, are reachable, and scaling
down drains (a real SSH probe playbook), then removes the highest-numbered worker with its volume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from provisioner.providers.local import LocalProvider, volume_name
from provisioner.settings import REPO_ROOT
from tests.machines_fixtures import launcher_env, machine_settings, unique_prefix

pytestmark = [pytest.mark.docker, pytest.mark.machines]

START = [sys.executable, str(REPO_ROOT / "start_instances.py")]
DRAIN_PROBE = Path(__file__).parent / "fixtures" / "drain-probe.yml"


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check, timeout=120)


def containers(prefix: str) -> dict[str, tuple[str, str]]:
    """name -> (id, started at) of every container with the prefix label."""
    out = docker(
        "ps", "-a", "--filter", f"label=org.mlstack.prefix={prefix}", "--format", "{{.Names}}"
    ).stdout
    found = {}
    for name in out.split():
        info = json.loads(docker("inspect", name).stdout)[0]
        found[name] = (info["Id"], info["State"]["StartedAt"])
    return found


def volumes(prefix: str) -> list[str]:
    return sorted(
        n for n in docker("volume", "ls", "--format", "{{.Name}}").stdout.split() if n.startswith(prefix)
    )


def inventory_workers(settings) -> dict[str, dict]:
    hosts = yaml.safe_load((settings.inventory_dir / "hosts.yml").read_text())["all"]["children"]
    return (hosts.get("workers") or {}).get("hosts") or {}


def ssh_with_key(host: dict, command: str) -> subprocess.CompletedProcess[str]:
    """Log in as the inventory says (key, port), nothing from the launcher's own ssh helpers."""
    argv = [
        "ssh",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-i",
        host["ansible_ssh_private_key_file"],
        "-p",
        str(host["ansible_port"]),
        f"{host['ansible_user']}@{host['ansible_host']}",
        command,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_workers_scale_out_reuse_and_scale_in(docker_engine, tmp_path):
    settings = machine_settings(tmp_path, unique_prefix("workers"))
    prefix = settings.prefix
    record = tmp_path / "drained"
    record.mkdir()
    env = {
        **launcher_env(settings),
        "MLSTACK_DRAIN_PLAYBOOK": str(DRAIN_PROBE),
        "DRAIN_RECORD_DIR": str(record),
        # the repository's ansible.cfg pins ./.state/known_hosts; keep this run's host keys out of it
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=no",
    }

    def launch(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [*START, "--provider", "local", "--prefix", prefix, "--no-configure", *args]
        result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=900)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        return result

    try:
        # ---- --workers 2: four machines --------------------------------------------------------------
        launch("--workers", "2")
        names = {f"{prefix}-{h}" for h in ("prodserver", "devserver", "worker-1", "worker-2")}
        first = containers(prefix)
        assert set(first) == names
        assert volumes(prefix) == sorted(
            volume_name(prefix, h) for h in ("prodserver", "devserver", "worker-1", "worker-2")
        )
        workers = inventory_workers(settings)
        assert sorted(workers) == [f"{prefix}-worker-1", f"{prefix}-worker-2"]
        for number in (1, 2):
            name = f"{prefix}-worker-{number}"
            host = workers[name]
            info = json.loads(docker("inspect", name).stdout)[0]
            assert info["Config"]["Labels"]["org.mlstack.role"] == "workers"
            bindings = info["HostConfig"]["PortBindings"]
            assert bindings == {"22/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(host["ansible_port"])}]}
            mounts = {m["Destination"]: m for m in info["Mounts"]}
            assert mounts["/var/lib/docker"]["Name"] == volume_name(prefix, f"worker-{number}")
            assert host["private_address"] == f"worker-{number}"
            assert "app_port" not in host

            login = ssh_with_key(host, "sudo -n true && hostname && cloud-init status")
            assert login.returncode == 0, login.stderr
            assert login.stdout.split()[0] == f"worker-{number}"
            assert "status: done" in login.stdout

            # prodserver resolves the worker by its alias and by its container name, and reaches its sshd
            address = info["NetworkSettings"]["Networks"][f"{prefix}-net"]["IPAddress"]
            probe = docker(
                "exec",
                f"{prefix}-prodserver",
                "bash",
                "-c",
                f"getent hosts worker-{number} {name} | awk '{{print $1}}' | sort -u;"
                f" timeout 5 bash -c 'exec 3<>/dev/tcp/worker-{number}/22; head -c 8 <&3'",
                check=False,
            )
            assert probe.returncode == 0, probe.stderr
            assert probe.stdout.splitlines() == [address, "SSH-2.0-"]

        # ---- the same number again: nothing is created, nothing restarts -----------------------------
        again = launch("--workers", "2")
        assert containers(prefix) == first
        assert again.stdout.count("reusing the running") == 4
        assert "drain" not in again.stdout.lower()

        # ---- no --workers at all: the workers that exist are kept ------------------------------------
        kept = launch()
        assert containers(prefix) == first
        assert "Keeping the 2 worker machine(s) that exist" in kept.stdout
        assert kept.stdout.count("reusing the running") == 4
        assert "drain" not in kept.stdout.lower()
        assert sorted(inventory_workers(settings)) == [f"{prefix}-worker-1", f"{prefix}-worker-2"]
        assert f"--prefix {prefix} --status" in kept.stdout, "the summary's next commands name the prefix"

        # ---- --status and --dry-run see the workers; the dry run changes nothing ------------------------
        status = launch("--status")
        assert f"{prefix}-worker-1" in status.stdout and f"{prefix}-worker-2" in status.stdout
        plan = launch("--workers", "1", "--dry-run")
        assert f"reuse the running {prefix}-worker-1" in plan.stdout
        assert f"drain, then remove {prefix}-worker-2 and its volume {volume_name(prefix, 'worker-2')}" in (
            plan.stdout
        )
        assert (
            f"drain {prefix}-worker-2 with {DRAIN_PROBE} (limited to them), then remove them" in plan.stdout
        )
        assert containers(prefix) == first
        assert list(record.iterdir()) == []

        # ---- --workers 1: worker-2 is drained over SSH, then removed with its volume ----------------
        scaled = launch("--workers", "1")
        assert f"draining, then removing {prefix}-worker-2" in scaled.stdout
        assert sorted(p.name for p in record.iterdir()) == [f"{prefix}-worker-2"]
        assert (record / f"{prefix}-worker-2").read_text().split() == ["worker-2", f"{prefix}-worker-2"]
        after = containers(prefix)
        assert set(after) == names - {f"{prefix}-worker-2"}
        assert all(after[n] == first[n] for n in after), "the other machines are untouched"
        assert volume_name(prefix, "worker-2") not in volumes(prefix)
        assert volume_name(prefix, "worker-1") in volumes(prefix)
        assert list(inventory_workers(settings)) == [f"{prefix}-worker-1"]
        assert not (settings.state_dir / "local" / f"{prefix}-worker-2").exists()

        # ---- --destroy takes the workers too -----------------------------------------------------------
        launch("--destroy")
        assert containers(prefix) == {}
        assert volumes(prefix) == []
        assert prefix + "-net" not in docker("network", "ls", "--format", "{{.Name}}").stdout.split()
    finally:
        LocalProvider(progress=print).down(settings)
