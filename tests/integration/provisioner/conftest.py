"""Fixtures for the launcher's tests: an isolated environment, a real key pair, a fake cloud at the HTTP
level (requests-mock + fakecloud.FakeCloud) under the real openstacksdk."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests_mock
from fakecloud import AUTH_URL, FakeCloud

from provisioner.machine import Machine
from provisioner.providers.openstack import OpenStackProvider
from provisioner.settings import Settings

CLOUDS_YAML = f"""\
clouds:
  fake:
    auth:
      auth_url: {AUTH_URL}
      username: demo
      password: secret
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
  fake2:
    auth:
      auth_url: {AUTH_URL}
      username: demo
      password: secret
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
  wrongpass:
    auth:
      auth_url: {AUTH_URL}
      username: demo
      password: not-the-password
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
"""


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No OS_*/MLSTACK_* from the caller, no clouds.yaml but ours, state/inventory/artifacts in tmp."""
    for name in list(os.environ):
        if name.startswith(("OS_", "MLSTACK_")):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("MLSTACK_SETTINGS", str(tmp_path / "no-settings.yml"))
    (tmp_path / "no-settings.yml").write_text("{}\n")
    monkeypatch.setenv("MLSTACK_STATE_DIR", str(tmp_path / "state"))
    # the names the tests expect; the default on OpenStack (mlstack-<user>) has its own test
    monkeypatch.setenv("MLSTACK_PREFIX", "mlstack")
    monkeypatch.setenv("MLSTACK_ALLOWED_CIDR", "198.51.100.0/24")  # required on OpenStack; its own test
    monkeypatch.setenv("MLSTACK_INVENTORY_DIR", str(tmp_path / "inventory"))
    monkeypatch.setenv("MLSTACK_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    empty = tmp_path / "empty-clouds.yaml"
    empty.write_text("clouds: {}\n")
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(empty))
    return tmp_path


@pytest.fixture
def clouds_yaml(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clouds.yaml with the entries ``fake`` (right password) and ``wrongpass``."""
    path = isolated / "clouds.yaml"
    path.write_text(CLOUDS_YAML)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    return path


@pytest.fixture
def keypair(tmp_path: Path) -> tuple[Path, Path]:
    """A real ed25519 key pair made by ssh-keygen: (private, public)."""
    private = tmp_path / "keys" / "id_ed25519"
    private.parent.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tester@example", "-f", str(private)],
        check=True,
    )
    return private, private.with_name("id_ed25519.pub")


@pytest.fixture
def cloud() -> Iterator[FakeCloud]:
    """The fake cloud behind every HTTP request of the test (real openstacksdk above it)."""
    with requests_mock.Mocker() as mocker:
        fake = FakeCloud(build_polls=2).install(mocker)
        yield fake
    assert not fake.unhandled, f"requests the fake cloud did not expect: {fake.unhandled}"


@dataclass
class Waits:
    """What the provider asked the SSH/cloud-init waiter to wait for (no SSH reaches a fake cloud)."""

    calls: list[tuple[list[Machine], set[str]]] = field(default_factory=list)

    def __call__(
        self, machines: list[Machine], settings: Settings, *, new: set[str], progress: object
    ) -> None:
        self.calls.append((list(machines), set(new)))


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def provider(waits: Waits) -> OpenStackProvider:
    """The real provider, with the SSH waiter replaced by a recorder and no pause between polls."""
    return OpenStackProvider(waiter=waits, poll_interval=0)


@pytest.fixture
def settings(isolated: Path, clouds_yaml: Path, keypair: tuple[Path, Path]) -> Settings:
    private, public = keypair
    return Settings(
        provider="openstack",
        cloud="fake",
        public_key=public,
        private_key=private,
        state_dir=isolated / "state",
        inventory_dir=isolated / "inventory",
        artifacts_dir=isolated / "artifacts",
        allowed_cidr="198.51.100.0/24",
        server_timeout=30,
    )


class ThisHost:
    """A provider whose prodserver and devserver are records only, for playbooks that run with a local
    connection (the launcher's flow, the inventory and ansible-runner stay real)."""

    def __init__(self) -> None:
        self.up_calls = 0

    def up(self, settings: Settings) -> list[Machine]:
        self.up_calls += 1
        return [
            Machine(name=f"{settings.prefix}-{role}", role=role, address="127.0.0.1", port=22)
            for role in ("prodserver", "devserver")
        ]

    def surplus(self, settings: Settings) -> list[Machine]:
        return []

    def status(self, settings: Settings) -> list[Machine]:
        return []

    def down(self, settings: Settings) -> None:
        pass


@pytest.fixture
def this_host() -> ThisHost:
    return ThisHost()


@pytest.fixture
def vars_record(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where fixtures/record-vars.yml (the playbook the launcher runs) writes each host's variables."""
    directory = isolated / "record"
    directory.mkdir()
    monkeypatch.setenv("VARS_RECORD_DIR", str(directory))
    monkeypatch.setenv("MLSTACK_PLAYBOOK", str(Path(__file__).parent / "fixtures" / "record-vars.yml"))
    return directory
