"""The record of what the launcher created."""

from __future__ import annotations

import json
import stat

import pytest

from provisioner.errors import ConfigError
from provisioner.state import StateFile


def test_record_forget_remove(tmp_path):
    path = tmp_path / "state" / "openstack-p.json"
    state = StateFile(path)
    assert state.is_empty() and not path.exists()

    state.record("servers", "prodserver", "id-1")
    state.record("floating_ips", "fip-1", "203.0.113.4")
    assert json.loads(path.read_text()) == {
        "servers": {"prodserver": "id-1"},
        "floating_ips": {"fip-1": "203.0.113.4"},
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert StateFile(path).section("servers") == {"prodserver": "id-1"}, "written at once"

    state.forget("servers", "prodserver")
    state.forget("servers", "never-there")
    assert StateFile(path).section("servers") == {}
    assert not state.is_empty()

    state.remove()
    assert not path.exists()
    assert list(path.parent.iterdir()) == [], "no temporary files are left"


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "s.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        StateFile(path)
