"""``start_instances.py --provider local`` end to end for the machines (no configuration run)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from provisioner.providers.local import LocalProvider
from provisioner.settings import REPO_ROOT
from tests.machines_fixtures import launcher_env, machine_settings, unique_prefix

pytestmark = [pytest.mark.docker, pytest.mark.machines]

START = [sys.executable, str(REPO_ROOT / "start_instances.py")]


def container_ids(prefix: str) -> dict[str, str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label=org.mlstack.prefix={prefix}", "--format", "{{json .}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {row["Names"]: row["ID"] for row in map(json.loads, out.splitlines())}


def names_with(prefix: str, *args: str) -> list[str]:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout
    return [n for n in out.split() if n.startswith(prefix + "-")]


def test_start_instances_local_up_reuse_destroy(docker_engine, tmp_path):
    settings = machine_settings(tmp_path, unique_prefix("cli"))
    env = launcher_env(settings)

    def launch(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [*START, "--provider", "local", "--prefix", settings.prefix, *args]
        return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=900)

    try:
        first = launch("--no-configure")
        assert first.returncode == 0, first.stdout + first.stderr
        assert "Traceback" not in first.stderr
        ids = container_ids(settings.prefix)
        assert sorted(ids) == [f"{settings.prefix}-devserver", f"{settings.prefix}-prodserver"]

        hosts = yaml.safe_load((settings.inventory_dir / "hosts.yml").read_text())
        children = hosts["all"]["children"]
        for role in ("prodserver", "devserver"):
            host = children[role]["hosts"][role]
            published = subprocess.run(
                ["docker", "port", f"{settings.prefix}-{role}", "22/tcp"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            assert published == [f"127.0.0.1:{host['ansible_port']}"]
            assert host["ansible_host"] == "127.0.0.1"
            assert host["ansible_user"] == "appuser"
            # the host keys cloud-init printed were pinned: Ansible checks them strictly
            assert "StrictHostKeyChecking=yes" in host["ansible_ssh_common_args"]
            login = subprocess.run(
                [
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
                    "appuser@127.0.0.1",
                    "sudo -n true && cloud-init status",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert login.returncode == 0, login.stderr
            assert "status: done" in login.stdout
        app = subprocess.run(
            ["docker", "port", f"{settings.prefix}-prodserver", "5100/tcp"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert app == [f"127.0.0.1:{children['prodserver']['hosts']['prodserver']['app_port']}"]

        second = launch("--no-configure")
        assert second.returncode == 0, second.stdout + second.stderr
        assert "reusing the running" in second.stdout
        assert container_ids(settings.prefix) == ids

        destroyed = launch("--destroy")
        assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
        assert container_ids(settings.prefix) == {}
        assert names_with(settings.prefix, "volume", "ls", "--format", "{{.Name}}") == []
        assert names_with(settings.prefix, "network", "ls", "--format", "{{.Name}}") == []
        assert not (settings.inventory_dir / "hosts.yml").exists()

        again = launch("--destroy")
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        LocalProvider(progress=print).down(settings)


def test_start_instances_local_without_a_docker_engine_is_a_clear_error(tmp_path):
    settings = machine_settings(tmp_path, unique_prefix("nodocker"))
    env = {**launcher_env(settings), "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    argv = [*START, "--provider", "local", "--prefix", settings.prefix, "--no-configure"]
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 3
    assert "error: Docker Engine is not running" in result.stderr
    assert "ensure-docker.sh" in result.stderr
    assert "Traceback" not in result.stderr
