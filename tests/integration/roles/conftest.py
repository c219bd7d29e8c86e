"""Local machines configured by configuration.yml, shared by the tests of this directory.

The machines come from the local provider (tests/machines_fixtures.py) and are removed after the module,
even when something fails. The configuration runs with the offline overrides (offline-vars.yml plus the
paths offline.py adds): the distribution's Docker packages, base images loaded from archives built here,
the data set from ../shared/data/, secrets in the test's own directory.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from provisioner.inventory import write_inventory
from tests.integration.roles import offline
from tests.integration.roles.playbook import Run, run_configuration
from tests.machines_fixtures import LocalMachines, docker_engine, machine_settings, machines_up  # noqa: F401

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "artifacts" / "roles-tests"


@dataclass
class Configured:
    """Machines, the inventory and variables that configure them, and the first two runs."""

    machines: LocalMachines
    inventory: Path
    vars_file: Path
    secrets_dir: Path
    log: Path
    first: Run
    second: Run

    def run(self, *args: str) -> Run:
        return run_configuration(self.inventory, self.vars_file, *args, log=self.log)


@pytest.fixture(scope="session")
def offline_vars_base(docker_engine: None) -> dict[str, object]:  # noqa: F811
    """Images built and saved (once per image id), the static overrides and this host's paths."""
    try:
        return offline.prepare()
    except offline.OfflineError as exc:
        pytest.fail(f"cannot prepare the offline images: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def configured(docker_engine: None, offline_vars_base: dict[str, object]) -> Iterator[Configured]:  # noqa: F811
    # Not tmp_path: pytest sessions running at the same time prune each other's old base temp directories,
    # and this fixture lives for many minutes (the machines' key and known_hosts are in it).
    workdir = Path(tempfile.mkdtemp(prefix="mlstack-roles-"))
    try:
        yield from _configured(workdir, offline_vars_base)
    finally:
        log = workdir / "ansible.log"
        if log.exists():  # kept for reading after the fact: artifacts/ is git-ignored
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, ARTIFACTS / f"ansible-{time.strftime('%Y%m%d-%H%M%S')}.log")
        shutil.rmtree(workdir, ignore_errors=True)


def _configured(workdir: Path, offline_vars_base: dict[str, object]) -> Iterator[Configured]:
    settings = machine_settings(workdir / "machines")
    secrets_dir = workdir / "secrets"
    vars_file = workdir / "vars.yml"
    # A snapshot of app/: the runs must see the same app from the first to the last, whatever else is
    # edited in the checkout meanwhile.
    app = workdir / "app"
    shutil.copytree(REPO / "app", app, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    values = dict(
        offline_vars_base,
        model_serving_secrets_dir=str(secrets_dir),
        model_serving_app_source=str(app),
        ml_dev_app_source=str(app),
    )
    vars_file.write_text(yaml.safe_dump(values, sort_keys=True), encoding="utf-8")
    log = workdir / "ansible.log"
    print(f"ansible output: {log}")
    with machines_up(settings) as machines:
        inventory = write_inventory(machines.machines, settings.inventory_dir, settings.known_hosts)
        first = run_configuration(inventory, vars_file, log=log)
        assert first.rc == 0 and first.total("failed") == 0, first.explain()
        second = run_configuration(inventory, vars_file, log=log)
        print(f"first run {first.seconds:.0f} s, second run {second.seconds:.0f} s")
        yield Configured(machines, inventory, vars_file, secrets_dir, log, first, second)
