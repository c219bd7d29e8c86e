"""The launcher's flow with an in-memory provider: unset --workers keeps the worker machines, the summary's
"Next:" commands find the same machines again, and bad extra variables stop a run before anything is made."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from provisioner import cli, fleet, keys
from provisioner.errors import ConfigError
from provisioner.machine import WORKER_ROLE, Machine
from provisioner.settings import Settings


class MemoryProvider:
    """The Provider protocol over a set of worker numbers (prodserver and devserver always exist)."""

    def __init__(self) -> None:
        self.workers: set[int] = set()
        self.up_calls = 0
        self.removed: list[str] = []

    def _machine(self, settings: Settings, slot: fleet.Slot) -> Machine:
        return Machine(name=slot.name, role=slot.role, address="127.0.0.1", port=40000 + slot.index)

    def up(self, settings: Settings) -> list[Machine]:
        self.up_calls += 1
        settings = fleet.resolve(settings, self.workers)
        self.workers |= {slot.number for slot in fleet.workers(settings)}
        return [self._machine(settings, slot) for slot in fleet.wanted(settings)]

    def surplus(self, settings: Settings) -> list[Machine]:
        settings = fleet.resolve(settings, self.workers)
        return [
            self._machine(settings, fleet.worker(settings, n)) for n in fleet.surplus(settings, self.workers)
        ]

    def remove_workers(self, settings: Settings, machines: list[Machine]) -> None:
        for machine in machines:
            self.workers.discard(fleet.worker_number(settings.prefix, machine.name))
            self.removed.append(machine.name)

    def status(self, settings: Settings) -> list[Machine]:
        slots = fleet.servers(settings) + [fleet.worker(settings, n) for n in sorted(self.workers)]
        return [self._machine(settings, slot) for slot in slots]

    def plan(self, settings: Settings) -> list[str]:
        return [f"workers={settings.workers}"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    pair = keys.generate(tmp_path / "ssh")
    return Settings(
        provider="local",
        public_key=pair.public_key,
        private_key=pair.private_key,
        state_dir=tmp_path / "state",
        inventory_dir=tmp_path / "inventory",
        artifacts_dir=tmp_path / "artifacts",
        drain_playbook=tmp_path / "no-drain.yml",
        configure=False,
    )


def inventory_workers(settings: Settings) -> list[str]:
    hosts = yaml.safe_load((settings.inventory_dir / "hosts.yml").read_text())["all"]["children"]
    return sorted((hosts[WORKER_ROLE] or {}).get("hosts") or {})


def test_a_rerun_without_workers_keeps_them_and_zero_removes_them(settings, capsys):
    provider = MemoryProvider()
    factory = lambda name: provider  # noqa: E731

    assert cli.run(dataclasses.replace(settings, workers=2), factory) == 0
    assert provider.workers == {1, 2}
    capsys.readouterr()

    assert settings.workers is None
    assert cli.run(settings, factory) == 0

    out = capsys.readouterr().out
    assert provider.workers == {1, 2} and provider.removed == []
    assert "Keeping the 2 worker machine(s) that exist" in out
    assert "Bringing up prodserver, devserver and 2 worker machine(s)" in out
    assert "Scaling down" not in out
    assert inventory_workers(settings) == ["mlstack-worker-1", "mlstack-worker-2"]

    assert cli.run(dataclasses.replace(settings, dry_run=True), factory) == 0
    assert "workers=2" in capsys.readouterr().out, "the dry run plans with the kept number too"

    assert cli.run(dataclasses.replace(settings, workers=0), factory) == 0
    out = capsys.readouterr().out
    assert provider.removed == ["mlstack-worker-2", "mlstack-worker-1"]
    assert "Scaling down to 0 worker machine(s)" in out
    assert inventory_workers(settings) == []


def test_without_workers_and_none_existing_nothing_is_made(settings, capsys):
    provider = MemoryProvider()
    assert cli.run(settings, lambda name: provider) == 0
    assert provider.workers == set()
    assert "Keeping" not in capsys.readouterr().out


def machines(prefix: str = "mlstack") -> list[Machine]:
    return [
        Machine(
            name=f"{prefix}-prodserver", role="prodserver", address="127.0.0.1", port=2222, app_port=5100
        ),
        Machine(name=f"{prefix}-devserver", role="devserver", address="127.0.0.1", port=2223),
    ]


def next_lines(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines[lines.index("Next:") + 1 :]]


def test_next_commands_for_the_defaults(settings):
    path = Settings().inventory_dir / "hosts.yml"
    lines = cli.summary(
        dataclasses.replace(settings, inventory_dir=Settings().inventory_dir), machines(), path, True
    )
    commands = [line.split("  ")[0] for line in next_lines(lines)]
    assert commands == [
        "ansible-playbook configuration.yml",
        "python start_instances.py --status",
        "python start_instances.py --destroy",
    ]


def test_next_commands_carry_prefix_provider_inventory_and_variables(settings, tmp_path):
    custom = dataclasses.replace(settings, prefix="demo", provider="openstack")
    vars_file = tmp_path / "state" / "extra-vars-demo.yml"
    path = custom.inventory_dir / "hosts.yml"
    commands = [
        line.split("  ")[0]
        for line in next_lines(cli.summary(custom, machines("demo"), path, True, vars_file))
    ]
    assert commands == [
        f"ansible-playbook configuration.yml -i {path} -e @{vars_file}",
        "python start_instances.py --provider openstack --prefix demo --status",
        "python start_instances.py --provider openstack --prefix demo --destroy",
    ]
    local = dataclasses.replace(settings, prefix="demo")
    lines = next_lines(cli.summary(local, machines("demo"), path, True))
    assert lines[1].startswith("python start_instances.py --prefix demo --status")
    # the descriptions line up after the longest command
    raw = cli.summary(local, machines("demo"), path, True)
    raw = raw[raw.index("Next:") + 1 :]
    assert (
        len({line.index(what) for line, what in zip(raw, ("configure", "what", "remove"), strict=True)}) == 1
    )


def test_bad_extra_vars_stop_the_run_before_the_provider_is_asked(settings, tmp_path):
    provider = MemoryProvider()
    missing = tmp_path / "missing.yml"
    bad = dataclasses.replace(settings, extra_vars=(f"@{missing}",))
    for run_settings in (bad, dataclasses.replace(bad, dry_run=True)):
        with pytest.raises(
            ConfigError, match=re.escape(f"the extra variables file {missing} does not exist")
        ):
            cli.run(run_settings, lambda name: provider)
    assert provider.up_calls == 0


def test_a_missing_data_set_file_stops_the_run_before_the_provider_is_asked(settings, tmp_path):
    provider = MemoryProvider()
    bad = dataclasses.replace(settings, dataset_file=tmp_path / "missing.csv")
    with pytest.raises(ConfigError, match=r"the data set file .*missing\.csv does not exist"):
        cli.run(bad, lambda name: provider)
    assert provider.up_calls == 0


def test_the_command_line_reports_a_missing_extra_vars_file_with_exit_2(tmp_path, monkeypatch, capsys):
    (tmp_path / "s.yml").write_text("{}\n")
    monkeypatch.setenv("MLSTACK_SETTINGS", str(tmp_path / "s.yml"))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["--dry-run", "-e", "@nope.yml"], provider_factory=lambda name: MemoryProvider()) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the extra variables file {tmp_path / 'nope.yml'} does not exist")


def test_help_lists_the_new_options(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    for option in ("-e VARS, --extra-vars VARS", "--offline, --no-offline", "--dataset-file PATH"):
        assert option in text, option
    assert "MLSTACK_EXTRA_VARS" in text and "MLSTACK_OFFLINE" in text and "MLSTACK_DATASET_FILE" in text
    assert "default: keep" in text and "0 removes them all" in text
