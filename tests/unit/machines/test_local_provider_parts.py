"""The local provider's pure parts, and its messages when Docker is missing or not running (real CLI)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from provisioner import fleet
from provisioner.docker_cli import error_text
from provisioner.errors import LauncherError, ProviderError
from provisioner.providers import get_provider
from provisioner.providers.local import (
    RUN_FLAGS,
    SEED_MOUNT,
    LocalProvider,
    Ports,
    choose_port,
    machine_record,
    meta_data,
    published_ports,
    run_args,
    write_seed,
)
from provisioner.settings import Settings

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDS5lvbJQjwA7GyX8J2Fy0mGmPvlh7Iuh6lW2Sv0MrEF test@example"


def settings(tmp_path: Path, **overrides) -> Settings:
    return Settings(provider="local", prefix="unit", state_dir=tmp_path / "state", **overrides)


def test_get_provider_local_returns_the_local_provider():
    assert isinstance(get_provider("local"), LocalProvider)


def test_run_args_carry_the_contracted_flags_and_nothing_privileged(tmp_path):
    s = settings(tmp_path)
    args = run_args(s, fleet.server(s, "prodserver"), Ports(ssh=40022, app=40100), tmp_path / "seed")
    joined = " ".join(args)
    assert "--privileged" not in args
    for flag in RUN_FLAGS:
        assert flag in args
    assert "--cap-add=ALL" in args and "--cap-drop=SYS_RESOURCE" in args
    assert "--device-cgroup-rule=a *:* rwm" in args
    assert "--name unit-prodserver" in joined
    assert "--hostname prodserver" in joined
    assert "--network unit-net --network-alias prodserver" in joined
    assert "--label org.mlstack.prefix=unit --label org.mlstack.role=prodserver" in joined
    assert "--volume unit-prodserver-docker:/var/lib/docker" in joined
    assert f"--volume {tmp_path / 'seed'}:{SEED_MOUNT}:ro" in joined
    assert "--publish 127.0.0.1:40022:22" in joined
    assert "--publish 127.0.0.1:40100:5100" in joined
    assert args[-1] == "mlstack/machine:trixie"


def test_devserver_publishes_ssh_only(tmp_path):
    s = settings(tmp_path)
    args = run_args(s, fleet.server(s, "devserver"), Ports(ssh=40023), tmp_path / "seed")
    published = [args[i + 1] for i, a in enumerate(args) if a == "--publish"]
    assert published == ["127.0.0.1:40023:22"]


def test_a_worker_machine_is_named_labelled_and_published_like_the_others(tmp_path):
    s = settings(tmp_path, workers=3)
    slot = fleet.worker(s, 2)
    args = run_args(s, slot, Ports(ssh=40025), tmp_path / "seed")
    joined = " ".join(args)
    assert "--privileged" not in args
    for flag in RUN_FLAGS:
        assert flag in args
    assert "--name unit-worker-2 --hostname worker-2" in joined
    assert "--label org.mlstack.prefix=unit --label org.mlstack.role=workers" in joined
    assert "--network unit-net --network-alias worker-2" in joined
    assert "--volume unit-worker-2-docker:/var/lib/docker" in joined
    published = [args[i + 1] for i, a in enumerate(args) if a == "--publish"]
    assert published == ["127.0.0.1:40025:22"], "SSH on loopback only, no app port"


def test_a_worker_record_has_its_alias_as_private_address(tmp_path):
    s = settings(tmp_path)
    container = {
        "Name": "/unit-worker-3",
        "Id": "abc",
        "Config": {"Labels": {"org.mlstack.prefix": "unit", "org.mlstack.role": "workers"}},
        "State": {"Status": "exited", "Running": False},
        "HostConfig": {"PortBindings": {"22/tcp": [{"HostIp": "127.0.0.1", "HostPort": "40026"}]}},
        "NetworkSettings": {"Networks": {"unit-net": {"IPAddress": "172.30.0.9"}}},
    }
    machine = machine_record(s, container)
    assert (machine.name, machine.role, machine.address, machine.port) == (
        "unit-worker-3",
        "workers",
        "127.0.0.1",
        40026,
    )
    assert machine.private_address == "worker-3"
    assert machine.app_port is None
    assert machine.extra["running"] == "no"


def test_published_ports_read_back_from_docker_inspect():
    container = {
        "Name": "/unit-prodserver",
        "HostConfig": {
            "PortBindings": {
                "22/tcp": [{"HostIp": "127.0.0.1", "HostPort": "40022"}],
                "5100/tcp": [{"HostIp": "127.0.0.1", "HostPort": "40100"}],
            }
        },
    }
    assert published_ports(container) == Ports(ssh=40022, app=40100)
    with pytest.raises(ProviderError, match="publishes no SSH port"):
        published_ports({"Name": "/x", "HostConfig": {"PortBindings": {}}})


def test_meta_data_is_nocloud_yaml_whose_instance_id_follows_the_user_data():
    first = yaml.safe_load(meta_data("unit-prodserver", "prodserver", "#cloud-config\na: 1\n"))
    second = yaml.safe_load(meta_data("unit-prodserver", "prodserver", "#cloud-config\na: 2\n"))
    assert first["local-hostname"] == "prodserver"
    assert first["instance-id"].startswith("unit-prodserver-")
    assert first["instance-id"] != second["instance-id"]


def test_write_seed_renders_the_cloud_init_template_with_the_key(tmp_path):
    s = settings(tmp_path)
    directory = write_seed(s, fleet.server(s, "devserver"), KEY)
    assert directory == tmp_path / "state" / "local" / "unit-devserver" / "seed"
    user_data = (directory / "user-data").read_text()
    assert user_data.startswith("#cloud-config\n")
    config = yaml.safe_load(user_data)
    appuser = next(u for u in config["users"] if isinstance(u, dict) and u.get("name") == "appuser")
    assert appuser["ssh_authorized_keys"] == [KEY]
    assert yaml.safe_load((directory / "meta-data").read_text())["local-hostname"] == "devserver"


def test_a_worker_seed_uses_prodservers_template_and_its_own_hostname(tmp_path):
    s = settings(tmp_path)
    directory = write_seed(s, fleet.worker(s, 1), KEY)
    assert directory == tmp_path / "state" / "local" / "unit-worker-1" / "seed"
    user_data = (directory / "user-data").read_text()
    config = yaml.safe_load(user_data)
    appuser = next(u for u in config["users"] if isinstance(u, dict) and u.get("name") == "appuser")
    assert appuser["ssh_authorized_keys"] == [KEY]
    assert appuser["sudo"] == "ALL=(ALL) NOPASSWD:ALL"
    meta = yaml.safe_load((directory / "meta-data").read_text())
    assert meta["local-hostname"] == "worker-1"
    assert meta["instance-id"].startswith("unit-worker-1-")


def test_choose_port_prefers_the_setting_and_falls_back_when_busy():
    taken: set[int] = set()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        port = choose_port(busy_port, taken)
        assert port != busy_port
    assert port in taken
    free = choose_port(0, taken)
    assert free not in (0, port) and free in taken
    # A free preferred port is used as is, but not twice.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        wanted = probe.getsockname()[1]
    assert choose_port(wanted, taken) == wanted
    assert choose_port(wanted, taken) != wanted


def test_no_docker_binary_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ProviderError, match="Docker is not installed") as caught:
        LocalProvider().status(settings(tmp_path))
    assert "apt-get install docker.io" in str(caught.value)
    assert isinstance(caught.value, LauncherError)


def test_engine_not_running_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    with pytest.raises(ProviderError, match="Docker Engine is not running") as caught:
        LocalProvider().down(settings(tmp_path))
    assert "scripts/ensure-docker.sh" in str(caught.value)


def test_docker_error_text_drops_the_boilerplate():
    stderr = (
        "docker: Error response from daemon: driver failed programming external connectivity on endpoint x: "
        "Bind for 127.0.0.1:45999 failed: port is already allocated\n\n"
        "Run 'docker run --help' for more information\n"
    )
    assert error_text(stderr) == (
        "Error response from daemon: driver failed programming external connectivity on endpoint x: "
        "Bind for 127.0.0.1:45999 failed: port is already allocated"
    )
