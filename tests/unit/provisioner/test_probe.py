"""``make up`` with no flags: the reachability probes and the decisions taken from them, against real HTTP
servers and closed ports on loopback (no traffic leaves this machine)."""

from __future__ import annotations

import socket

import pytest

from provisioner import cli, probe
from provisioner.errors import ConfigError
from provisioner.settings import Settings, load_settings


@pytest.fixture
def closed() -> str:
    """An address on loopback where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/linux/debian/gpg"


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(probe, "DATA_DIR", tmp_path / "data")
    return tmp_path / "data"


def sources(monkeypatch, apt: str, hub: str) -> None:
    monkeypatch.setattr(probe, "INSTALL_SOURCES", (("Docker's apt repository", apt), ("Docker Hub", hub)))


def test_an_answer_of_any_status_is_reachable(server):
    assert probe.unreachable(f"{server}/linux/debian/gpg") is None
    assert probe.unreachable(f"{server}/v2/") is None  # 401


def test_a_closed_port_is_unreachable_with_a_reason(closed):
    why = probe.unreachable(closed, timeout=2)
    assert why is not None and "refused" in why.lower(), why


def test_reachable_sources_keep_the_default_path(monkeypatch, server, data_dir, capsys):
    sources(monkeypatch, f"{server}/gpg", f"{server}/v2/")
    monkeypatch.setattr(probe, "DATASET_URL", f"{server}/pima.csv")
    settings = cli.resolve_sources(Settings(provider="local"), {})
    assert settings.offline is False
    assert settings.dataset_file is None
    assert "Offline mode" not in capsys.readouterr().out


def test_a_blocked_source_turns_offline_mode_on_in_one_line(monkeypatch, server, closed, capsys):
    sources(monkeypatch, closed, f"{server}/v2/")
    monkeypatch.setattr(probe, "DATASET_URL", f"{server}/pima.csv")
    settings = cli.resolve_sources(Settings(provider="local"), {})
    assert settings.offline is True
    lines = [line for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 1, lines
    assert lines[0].startswith("Offline mode: Docker's apt repository (") and "Docker Hub" not in lines[0]


def test_an_explicit_choice_is_not_probed(monkeypatch, server, closed):
    sources(monkeypatch, closed, closed)
    monkeypatch.setattr(probe, "DATASET_URL", f"{server}/pima.csv")
    assert cli.resolve_sources(Settings(provider="local", offline=False), {}).offline is False
    assert cli.resolve_sources(Settings(provider="local", offline=True), {}).offline is True


def test_openstack_is_not_probed_from_here(monkeypatch, closed):
    asked: list[str] = []

    def recording(url: str, timeout: float) -> str | None:
        asked.append(url)
        return "blocked"

    settings = cli.resolve_sources(Settings(provider="openstack"), {}, probe_url=recording)
    assert settings.offline is False  # the cloud's servers download for themselves
    assert asked == []


def test_an_unreachable_data_set_without_a_copy_stops_with_the_path_to_give(
    monkeypatch, server, closed, data_dir
):
    sources(monkeypatch, f"{server}/gpg", f"{server}/v2/")
    monkeypatch.setattr(probe, "DATASET_URL", closed)
    with pytest.raises(ConfigError) as caught:
        cli.resolve_sources(Settings(provider="local"), {})
    assert closed in caught.value.message
    assert "make up DATASET=" in (caught.value.hint or "")
    assert probe.DATASET_NAME in (caught.value.hint or "")


def test_an_unreachable_data_set_takes_the_copy_in_data(monkeypatch, server, closed, data_dir, capsys):
    sources(monkeypatch, f"{server}/gpg", f"{server}/v2/")
    monkeypatch.setattr(probe, "DATASET_URL", closed)
    data_dir.mkdir()
    copy = data_dir / probe.DATASET_NAME
    copy.write_text("6,148,72,35,0,33.6,0.627,50,1\n", encoding="utf-8")
    settings = cli.resolve_sources(Settings(provider="local"), {})
    assert settings.dataset_file == copy
    assert f"using {copy}" in capsys.readouterr().out


def test_the_users_data_set_url_is_the_one_probed(monkeypatch, server, closed, data_dir):
    sources(monkeypatch, f"{server}/gpg", f"{server}/v2/")
    monkeypatch.setattr(probe, "DATASET_URL", closed)
    settings = cli.resolve_sources(
        Settings(provider="local"), {"model_serving_dataset_url": f"{server}/mirror/pima.csv"}
    )
    assert settings.dataset_file is None


def test_a_given_data_set_is_not_probed(monkeypatch, server, closed, data_dir):
    sources(monkeypatch, f"{server}/gpg", f"{server}/v2/")
    monkeypatch.setattr(probe, "DATASET_URL", closed)
    given = Settings(provider="local", dataset_file=data_dir / "mine.csv")
    assert cli.resolve_sources(given, {}).dataset_file == data_dir / "mine.csv"
    in_vars = cli.resolve_sources(Settings(provider="local"), {"model_serving_dataset_file": "/x.csv"})
    assert in_vars.dataset_file is None


@pytest.mark.parametrize(("value", "expected"), [("auto", None), ("1", True), ("0", False), ("", None)])
def test_offline_from_the_environment(value, expected, tmp_path):
    empty = tmp_path / "mlstack.yml"
    empty.write_text("{}\n", encoding="utf-8")
    settings = load_settings({}, env={"MLSTACK_OFFLINE": value}, settings_file=empty)
    assert settings.offline is expected
