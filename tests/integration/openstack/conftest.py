"""The OpenStack test bed (testbed/openstack/: a real Zed control plane in one container) for the tests
here: started once per session, or reused when it already runs (``make openstack-up``); removed at the end
only when this session started it, unless MLSTACK_TESTBED_KEEP=1."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from openstack.connection import Connection

from provisioner import docker_cli
from provisioner.settings import Settings
from testbed.openstack import bed, register


@dataclass(frozen=True)
class TestBed:
    bed: bed.Bed
    clouds_yaml: Path

    def connect(self, who: str = "member") -> Connection:
        return register.connect(self.bed, who)


@pytest.fixture(scope="session")
def openstack_testbed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBed]:
    wanted = bed.Bed.from_env()
    info = docker_cli.inspect("container", wanted.name)
    was_running = info is not None and info["State"]["Running"]
    running = bed.up(wanted)
    register.register(running)
    clouds_yaml = register.write_clouds_yaml(running, tmp_path_factory.mktemp("testbed") / "clouds.yaml")
    yield TestBed(running, clouds_yaml)
    if not was_running and os.environ.get("MLSTACK_TESTBED_KEEP") != "1":
        bed.down(running)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, openstack_testbed: TestBed) -> Path:
    """No OS_*/MLSTACK_* from the caller; the test bed's clouds.yaml; state, inventory, artifacts in tmp."""
    for name in list(os.environ):
        if name.startswith(("OS_", "MLSTACK_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "no-settings.yml").write_text("{}\n")
    monkeypatch.setenv("MLSTACK_SETTINGS", str(tmp_path / "no-settings.yml"))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(openstack_testbed.clouds_yaml))
    return tmp_path


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[Path, Path]:
    """A real ed25519 key pair made by ssh-keygen: (private, public)."""
    private = tmp_path / "keys" / "id_ed25519"
    private.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(private)], check=True)
    return private, private.with_name("id_ed25519.pub")


@pytest.fixture
def settings(isolated: Path, keypair: tuple[Path, Path]) -> Settings:
    private, public = keypair
    return Settings(
        provider="openstack",
        cloud=register.CLOUDS["member"],
        image=register.IMAGE,
        flavor=register.FLAVOR,
        network=register.PRIVATE_NET,
        floating_network=register.EXTERNAL_NET,
        prefix=f"tb{secrets.token_hex(3)}",
        public_key=public,
        private_key=private,
        state_dir=isolated / "state",
        inventory_dir=isolated / "inventory",
        artifacts_dir=isolated / "artifacts",
        allowed_cidr="198.51.100.0/24",
        server_timeout=180,
    )
