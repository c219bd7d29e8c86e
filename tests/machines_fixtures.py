"""Fixtures and helpers for tests that need local machines (systemd containers on the local Docker Engine).

Use from a conftest.py::

    from tests.machines_fixtures import docker_engine, local_machines  # noqa: F401

``local_machines`` (module scope) brings up ``<prefix>-prodserver`` and ``<prefix>-devserver`` with a prefix
unique to the run, a key generated for the run, ports chosen freely on 127.0.0.1 and a private state
directory, and always removes them again (containers, volumes, network, seed), even when a test or ``up``
itself fails. ``machines_up`` is the same as a context manager for tests that want their own machines;
with ``machine_settings(workdir, workers=2)`` it also brings up ``<prefix>-worker-1`` and ``-2`` (look them
up as ``machines["worker-1"]``, or all of them as ``machines.workers``).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner import keys, ssh
from provisioner.machine import WORKER_ROLE, Machine
from provisioner.providers.local import LocalProvider
from provisioner.settings import REPO_ROOT, Settings

ENSURE_DOCKER = REPO_ROOT / "scripts" / "ensure-docker.sh"
TEST_PREFIX = "mlt"


def ensure_docker() -> None:
    """Start Docker Engine when it is not answering (scripts/ensure-docker.sh) and wait for it."""
    result = subprocess.run([str(ENSURE_DOCKER)], capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        pytest.fail(f"Docker Engine is not available: {result.stderr.strip()}", pytrace=False)


def unique_prefix(kind: str = "") -> str:
    """A resource prefix nobody else uses: ``mlt-<kind>-<8 hex>`` (a valid --prefix)."""
    middle = f"{kind}-" if kind else ""
    return f"{TEST_PREFIX}-{middle}{uuid.uuid4().hex[:8]}"


def machine_settings(workdir: Path, prefix: str | None = None, **overrides: object) -> Settings:
    """Settings for test machines: own key, state, inventory and artifacts under ``workdir``, free ports."""
    workdir.mkdir(parents=True, exist_ok=True)
    key_dir = workdir / "ssh"
    pair = keys.generate(key_dir) if not (key_dir / "id_ed25519").exists() else None
    values: dict[str, object] = {
        "provider": "local",
        "prefix": prefix or unique_prefix(),
        "public_key": pair.public_key if pair else key_dir / "id_ed25519.pub",
        "private_key": pair.private_key if pair else key_dir / "id_ed25519",
        "state_dir": workdir / "state",
        "inventory_dir": workdir / "inventory",
        "artifacts_dir": workdir / "artifacts",
        "configure": False,
        "local_ssh_port_base": 0,
        "local_app_port": 0,
        "ssh_timeout": 120.0,
        "cloud_init_timeout": 300.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class LocalMachines:
    """Running test machines and what it takes to talk to them."""

    settings: Settings
    provider: LocalProvider
    machines: list[Machine]

    def __getitem__(self, role: str) -> Machine:
        """The machine of a role (``prodserver``; ``workers`` gives worker-1), or a worker by host name
        (``worker-2``) or full name."""
        for machine in self.machines:
            if machine.role == role or machine.name in (role, self.settings.server_name(role)):
                return machine
        raise KeyError(role)

    @property
    def workers(self) -> list[Machine]:
        """The worker machines, by number."""
        return [m for m in self.machines if m.role == WORKER_ROLE]

    def ssh_argv(
        self, role: str, *remote: str, user: str | None = None, options: tuple[str, ...] = ()
    ) -> list[str]:
        """The ssh command line that logs in to ``role`` (as ``user``, default appuser), runs ``remote``."""
        machine = self[role]
        if user is not None:
            machine = dataclasses.replace(machine, user=user)
        argv = ssh.command(machine, self.settings.known_hosts, *remote)
        return [argv[0], *options, *argv[1:]]

    def ssh(
        self,
        role: str,
        *remote: str,
        user: str | None = None,
        options: tuple[str, ...] = (),
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``remote`` on ``role`` over SSH; never raises on a non-zero exit (tests look at it)."""
        argv = self.ssh_argv(role, *remote, user=user, options=options)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)

    def docker_exec(self, role: str, *command: str) -> subprocess.CompletedProcess[str]:
        """Run ``command`` as root inside the machine's container (not over SSH)."""
        argv = ["docker", "exec", self[role].name, *command]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@contextmanager
def machines_up(settings: Settings, provider: LocalProvider | None = None) -> Iterator[LocalMachines]:
    """Bring the machines up for ``settings`` and remove everything again on the way out, whatever happens."""
    provider = provider or LocalProvider(progress=lambda line: print(line, flush=True))
    try:
        machines = provider.up(settings)
        yield LocalMachines(settings=settings, provider=provider, machines=machines)
    finally:
        provider.down(settings)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Docker Engine answers (started by scripts/ensure-docker.sh when it was not running)."""
    ensure_docker()


@pytest.fixture(scope="module")
def local_machines(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalMachines]:
    """prodserver and devserver for the tests of one module, removed afterwards even on failure."""
    settings = machine_settings(tmp_path_factory.mktemp("machines"))
    with machines_up(settings) as machines:
        yield machines


@pytest.fixture(scope="session")
def session_machines(
    docker_engine: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalMachines]:
    """Like ``local_machines``, shared by a whole session (e.g. the end-to-end tests)."""
    settings = machine_settings(tmp_path_factory.mktemp("session-machines"))
    with machines_up(settings) as machines:
        yield machines


def launcher_env(settings: Settings) -> dict[str, str]:
    """The environment that makes ``start_instances.py`` use ``settings``' directories, key and free ports.

    (Pass ``--prefix settings.prefix``; key paths also work as --public-key/--private-key.)
    """
    env = dict(os.environ)
    env.update(
        {
            "MLSTACK_PROVIDER": "local",
            "MLSTACK_STATE_DIR": str(settings.state_dir),
            "MLSTACK_INVENTORY_DIR": str(settings.inventory_dir),
            "MLSTACK_ARTIFACTS_DIR": str(settings.artifacts_dir),
            "MLSTACK_PUBLIC_KEY": str(settings.public_key),
            "MLSTACK_PRIVATE_KEY": str(settings.private_key),
            "MLSTACK_LOCAL_SSH_PORT_BASE": str(settings.local_ssh_port_base),
            "MLSTACK_LOCAL_APP_PORT": str(settings.local_app_port),
        }
    )
    return env
