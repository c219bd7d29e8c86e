"""``down`` removes everything the local provider made for a prefix, and nothing else; twice is harmless."""

from __future__ import annotations

import subprocess

import pytest

from provisioner.errors import ProviderError
from provisioner.providers import local
from provisioner.providers.local import IMAGE_BUILDER, LocalProvider, machine_dir
from tests.machines_fixtures import machine_settings, unique_prefix

pytestmark = [pytest.mark.docker, pytest.mark.machines]


def docker_names(*args: str) -> list[str]:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def leftovers(prefix: str) -> dict[str, list[str]]:
    return {
        "containers": [n for n in docker_names("ps", "-a", "--format", "{{.Names}}") if n.startswith(prefix)],
        "volumes": [n for n in docker_names("volume", "ls", "--format", "{{.Name}}") if n.startswith(prefix)],
        "networks": [
            n for n in docker_names("network", "ls", "--format", "{{.Name}}") if n.startswith(prefix)
        ],
    }


def test_down_leaves_no_container_volume_network_or_seed(docker_engine, tmp_path):
    settings = machine_settings(tmp_path, unique_prefix("down"))
    provider = LocalProvider(progress=print)
    bystander = f"{settings.prefix}x-net"  # shares the prefix's first letters but is not ours
    subprocess.run(["docker", "network", "create", bystander], capture_output=True, check=True)
    try:
        machines = provider.up(settings)
        assert len(machines) == 2
        found = leftovers(settings.prefix)
        assert len(found["containers"]) == 2
        assert len(found["volumes"]) == 2
        assert sorted(found["networks"]) == sorted([f"{settings.prefix}-net", bystander])
        assert all(machine_dir(settings, m.name).is_dir() for m in machines)

        provider.down(settings)
        assert leftovers(settings.prefix) == {"containers": [], "volumes": [], "networks": [bystander]}
        assert not any(machine_dir(settings, m.name).exists() for m in machines)
        assert provider.status(settings) == []

        provider.down(settings)  # twice: harmless
        assert leftovers(settings.prefix) == {"containers": [], "volumes": [], "networks": [bystander]}
    finally:
        provider.down(settings)
        subprocess.run(["docker", "network", "rm", bystander], capture_output=True, check=False)


def test_up_refuses_a_container_it_did_not_make(docker_engine, tmp_path):
    settings = machine_settings(tmp_path, unique_prefix("foreign"))
    provider = LocalProvider(progress=print)
    name = settings.server_name("prodserver")
    image = subprocess.run([IMAGE_BUILDER], capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["docker", "create", "--name", name, image], capture_output=True, text=True, check=True)
    try:
        with pytest.raises(ProviderError, match="did not make"):
            provider.up(settings)
        provider.down(settings)
        assert name in docker_names("ps", "-a", "--format", "{{.Names}}"), (
            "down must leave a foreign container"
        )
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
        provider.down(settings)


def test_a_port_grabbed_between_choice_and_docker_run_is_chosen_again(docker_engine, tmp_path, monkeypatch):
    holder = f"{unique_prefix('port')}-holder"
    run = subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            holder,
            "-p",
            "127.0.0.1::9",
            "mlstack/base:trixie",
            "sleep",
            "300",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.returncode == 0
    try:
        held = int(docker_names("port", holder, "9/tcp")[0].rsplit(":", 1)[1])
        settings = machine_settings(tmp_path, unique_prefix("race"), local_ssh_port_base=held)
        # Simulate the race: the port looked free when chosen, and Docker's list did not show it yet.
        monkeypatch.setattr(local, "port_is_free", lambda port: True)
        monkeypatch.setattr(local.docker_cli, "published_host_ports", set)
        provider = LocalProvider(progress=print)
        try:
            machines = provider.up(settings)
            prod = next(m for m in machines if m.role == "prodserver")
            assert prod.port != held
            assert docker_names("port", prod.name, "22/tcp") == [f"127.0.0.1:{prod.port}"]
        finally:
            provider.down(settings)
    finally:
        subprocess.run(["docker", "rm", "-f", holder], capture_output=True, check=False)
