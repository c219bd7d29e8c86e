"""The command line itself: --help, bad options, provider lookup."""

from __future__ import annotations

import subprocess
import sys

import pytest

from provisioner import cli, providers
from provisioner.errors import ConfigError
from provisioner.settings import REPO_ROOT

OPTIONS = [
    "--provider",
    "--cloud",
    "--image",
    "--flavor",
    "--network",
    "--key-name",
    "--public-key",
    "--prefix",
    "--allowed-cidr",
    "--workers",
    "--no-configure",
    "--destroy",
    "--status",
    "--dry-run",
    "--verbose",
    "--settings",
    "--private-key",
    "--floating-network",
    "--devserver-floating-ip",
]


def test_help_documents_every_option_and_the_precedence(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    for option in OPTIONS:
        assert option in text, option
    assert "where settings come from (highest first)" in text
    assert "MLSTACK_FLAVOR" in text and "mlstack.yml" in text
    assert "clouds.yaml" in text and "OS_CLOUD" in text
    assert 'default provider is "local"' in text


def test_start_instances_help_runs_as_a_script():
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "start_instances.py"), "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "--provider {openstack,local}" in result.stdout


def test_usage_errors_exit_2(capsys):
    assert cli.main(["--provider", "aws"]) == 2
    assert "invalid choice: 'aws'" in capsys.readouterr().err
    assert cli.main(["--workers", "many"]) == 2


def test_bad_settings_are_messages_not_tracebacks(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("MLSTACK_SETTINGS", str(tmp_path / "missing.yml"))
    assert cli.main(["--status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: settings file") and "Traceback" not in err


def test_destroy_and_status_together(capsys, monkeypatch, tmp_path):
    (tmp_path / "s.yml").write_text("{}\n")
    monkeypatch.setenv("MLSTACK_SETTINGS", str(tmp_path / "s.yml"))
    assert cli.main(["--destroy", "--status"], provider_factory=lambda name: None) == 2
    assert "do not go together" in capsys.readouterr().err


def test_unexpected_errors_are_one_line(capsys, monkeypatch, tmp_path):
    (tmp_path / "s.yml").write_text("{}\n")
    monkeypatch.setenv("MLSTACK_SETTINGS", str(tmp_path / "s.yml"))

    class Broken:
        def status(self, settings):
            raise RuntimeError("boom")

    assert cli.main(["--status"], provider_factory=lambda name: Broken()) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "error: unexpected RuntimeError: boom"
    assert "Traceback" not in err


def test_get_provider():
    assert type(providers.get_provider("openstack")).__name__ == "OpenStackProvider"
    with pytest.raises(ConfigError, match="unknown provider"):
        providers.get_provider("aws")


def test_get_provider_when_the_module_is_missing(monkeypatch):
    monkeypatch.setitem(
        providers.PROVIDERS, "local", ("provisioner.providers.not_written_yet", "LocalProvider")
    )
    with pytest.raises(ConfigError) as failure:
        providers.get_provider("local")
    assert "provisioner/providers/not_written_yet.py is missing" in failure.value.message
