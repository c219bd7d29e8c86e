"""The ansible-runner wrapper on real playbook runs (local connection; one unreachable SSH host)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import yaml

from provisioner import runner
from provisioner.errors import ConfigureError
from provisioner.inventory import write_inventory
from provisioner.machine import Machine

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def local_inventory(tmp_path):
    hosts = {
        name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
        for name in ("prodserver", "devserver")
    }
    inventory = {"all": {"children": {name: {"hosts": {name: hosts[name]}} for name in hosts}}}
    path = tmp_path / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def test_successful_run_prints_live_lines_and_a_recap(local_inventory, tmp_path):
    lines: list[str] = []
    result = runner.configure(FIXTURES / "ok.yml", local_inventory, tmp_path / "artifacts", out=lines.append)

    assert result.ok and result.rc == 0 and result.status == "successful"
    assert "PLAY Runner smoke test" in lines
    for host in ("prodserver", "devserver"):
        assert any(line.split()[:2] == ["ok", host] and line.endswith("Say hello") for line in lines)
        assert any(
            line.split()[:2] == ["changed", host] and line.endswith("Report a change") for line in lines
        )
    recap = lines[lines.index("RECAP") + 1 :]
    assert any(
        line.split()[0] == "prodserver" and "ok=3 changed=1 failed=0 unreachable=0" in line for line in recap
    )
    assert result.artifacts.parent == (tmp_path / "artifacts" / "ansible").resolve()
    assert (result.artifacts / "stdout").is_file()
    assert "Say hello" in (result.artifacts / "stdout").read_text()


def test_a_failed_host_raises_with_the_artifacts_path(local_inventory, tmp_path):
    lines: list[str] = []
    with pytest.raises(ConfigureError) as failure:
        runner.configure(FIXTURES / "fail.yml", local_inventory, tmp_path / "artifacts", out=lines.append)

    assert failure.value.exit_code == 5
    assert "on: devserver" in failure.value.message
    assert "stdout" in failure.value.hint and "ansible-playbook -i" in failure.value.hint
    assert any(line.split()[:2] == ["FAILED", "devserver"] for line in lines)
    assert any("devserver refuses on purpose" in line for line in lines)


def test_an_unreachable_host_is_a_failure_and_host_keys_stay_checked(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    machine = Machine(
        name="t-prodserver",
        role="prodserver",
        address="127.0.0.1",
        port=closed_port,
        key_path=tmp_path / "no-key",
    )
    inventory = write_inventory([machine], tmp_path / "inventory", tmp_path / "known_hosts")
    lines: list[str] = []

    result = runner.run_playbook(
        FIXTURES / "ok.yml", inventory, tmp_path / "artifacts", out=lines.append, verbose=3
    )

    assert not result.ok
    assert result.failed_hosts == ["prodserver"]
    assert any(line.split()[:2] == ["UNREACHABLE", "prodserver"] for line in lines)
    stdout = (result.artifacts / "stdout").read_text()
    assert "StrictHostKeyChecking=accept-new" in stdout
    assert "StrictHostKeyChecking=no" not in stdout
    assert f"UserKnownHostsFile={tmp_path / 'known_hosts'}" in stdout


def test_a_missing_playbook_is_a_clear_error(local_inventory, tmp_path):
    with pytest.raises(Exception, match="does not exist"):
        runner.run_playbook(tmp_path / "nope.yml", local_inventory, tmp_path / "artifacts")


def test_the_command_line_exits_5_when_a_host_is_unreachable(isolated, keypair, monkeypatch, capsys):
    """settings -> provider.up -> inventory -> ansible-runner -> exit code, with a provider whose machine
    does not answer (a closed port on 127.0.0.1)."""
    from provisioner import cli

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    private, public = keypair

    class Unanswering:
        def up(self, settings):
            return [
                Machine(
                    name="t-prodserver",
                    role="prodserver",
                    address="127.0.0.1",
                    port=closed_port,
                    key_path=settings.private_key,
                ),
            ]

        def surplus(self, settings):
            return []

        def status(self, settings):
            return []

    monkeypatch.setenv("MLSTACK_PLAYBOOK", str(FIXTURES / "ok.yml"))
    code = cli.main(["--public-key", str(public), "--private-key", str(private)], lambda name: Unanswering())

    out, err = capsys.readouterr()
    assert code == 5
    assert "UNREACHABLE prodserver" in " ".join(out.split())
    assert "error: the configuration failed" in err and "prodserver" in err
    assert (isolated / "inventory" / "hosts.yml").is_file()
    assert list((isolated / "artifacts" / "ansible").glob("*/stdout"))
