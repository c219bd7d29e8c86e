"""The roles are documented the way their README promises: every variable in defaults/main.yml has an
argument spec and a README row with the same default, and the collections pinned in requirements.yml are
the ones the PyPI `ansible` package ships."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ROLES = ("common", "docker", "model_serving", "ml_dev", "git_deploy", "remote_workers")
COLLECTIONS_DIR = Path(__import__("ansible_collections").__path__[0])


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


@pytest.mark.parametrize("role", ROLES)
def test_role_has_the_standard_files(role: str):
    base = REPO / "roles" / role
    for name in (
        "README.md",
        "defaults/main.yml",
        "meta/main.yml",
        "meta/argument_specs.yml",
        "handlers/main.yml",
        "tasks/main.yml",
    ):
        assert (base / name).is_file(), f"roles/{role}/{name} is missing"
    platforms = load(base / "meta" / "main.yml")["galaxy_info"]["platforms"]
    assert {p["name"] for p in platforms} == {"Debian", "Ubuntu"}


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_is_specified_documented_and_prefixed(role: str):
    base = REPO / "roles" / role
    defaults = load(base / "defaults" / "main.yml")
    spec = load(base / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    readme = (base / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| `(.*?)` \|", readme, flags=re.M))
    assert set(defaults) <= set(spec), f"defaults without an argument spec: {set(defaults) - set(spec)}"
    assert set(spec) == set(rows), f"spec vs README table: {set(spec) ^ set(rows)}"
    for name in spec:
        assert name.startswith(f"{role}_"), f"{name} does not start with {role}_"
    for name, value in defaults.items():
        if "default" in spec[name]:
            assert spec[name]["default"] == value, f"{name}: argument spec default differs from defaults/"
        shown = value if isinstance(value, str) else json.dumps(value)
        assert rows[name].replace("\\|", "|") == (shown.strip() or '""'), f"{name}: README default differs"


def test_requirements_pin_the_collections_the_ansible_package_ships():
    pinned = {c["name"]: c["version"] for c in load(REPO / "requirements.yml")["collections"]}
    for name, version in pinned.items():
        namespace, collection = name.split(".")
        manifest = json.loads((COLLECTIONS_DIR / namespace / collection / "MANIFEST.json").read_text())
        assert manifest["collection_info"]["version"] == version, name


def test_ansible_cfg_has_the_project_settings():
    text = (REPO / "ansible.cfg").read_text(encoding="utf-8")
    for setting in (
        "inventory = inventory/hosts.yml",
        "roles_path = roles",
        "pipelining = True",
        "ControlPersist=",
        "forks = 10",
        "interpreter_python = auto_silent",
        "host_key_checking = True",
        "StrictHostKeyChecking=accept-new",
        "callbacks_enabled = ansible.posix.profile_tasks",
    ):
        assert setting in text, setting
    ssh_args = next(line for line in text.splitlines() if line.startswith("ssh_args"))
    assert "UserKnownHostsFile" not in ssh_args  # the launcher's inventory sets it; ssh keeps the first
