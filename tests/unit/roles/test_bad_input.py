"""Bad input stops a run before anything happens on a host, with a message that names the culprit:
wrong types and values (argument specs, the roles' own checks), a missing inventory group, a host that
does not answer. Runs ansible-playbook on this machine only (connection local, or nothing reachable)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def ansible_playbook(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
            "ANSIBLE_NOCOLOR": "1",
        }
    )
    return subprocess.run(
        ["ansible-playbook", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def role_playbook(tmp_path: Path):
    """A play that applies one role to this machine (facts only: the argument check comes first)."""

    def make(role: str) -> Path:
        path = tmp_path / f"{role}.yml"
        path.write_text(
            "- hosts: localhost\n  connection: local\n  gather_facts: true\n  gather_subset: [min]\n"
            f"  roles: [{role}]\n  vars:\n"
            "    ansible_python_interpreter: '{{ ansible_playbook_python }}'\n",
            encoding="utf-8",
        )
        return path

    return make


@pytest.mark.parametrize(
    ("role", "extra", "named"),
    [
        ("docker", "docker_install_source=podman", "docker_install_source"),
        ("docker", '{"docker_daemon_options": ["mtu", 1450]}', "docker_daemon_options"),
        ("model_serving", "model_serving_workers=many", "model_serving_workers"),
        ("model_serving", '{"model_serving_image_archives": "one.tar"}', "model_serving_image_archives"),
        ("common", '{"common_firewall_enabled": "perhaps"}', "common_firewall_enabled"),
        ("ml_dev", '{"ml_dev_pip_packages": {"numpy": 2}}', "ml_dev_pip_packages"),
    ],
)
def test_wrong_types_fail_argument_validation_naming_the_variable(role, extra, named, role_playbook):
    result = ansible_playbook(str(role_playbook(role)), "-i", "localhost,", "-e", extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Validating arguments against arg spec" in output
    assert named in output


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ("model_serving_workers=0", "model_serving_workers must be at least 1"),
        ("model_serving_web_port=70000", "model_serving_web_port must be a port number"),
        ("model_serving_release_id=../etc", "model_serving_release_id may hold"),
        ("model_serving_dataset_file=/nonexistent.csv", "model_serving_dataset_file (/nonexistent.csv)"),
        ("model_serving_dataset_sha256=abc", "model_serving_dataset_sha256 must be 64 hexadecimal"),
    ],
)
def test_bad_values_fail_before_any_change(extra, named, role_playbook):
    result = ansible_playbook(str(role_playbook("model_serving")), "-i", "localhost,", "-e", extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert named in output
    assert "changed=0" in output


def test_a_missing_inventory_group_is_named(tmp_path: Path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  children:\n    prodserver:\n      hosts:\n        prodserver:\n")
    result = ansible_playbook("configuration.yml", "-i", str(inventory))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Inventory group 'devserver' is missing or empty" in output
    assert "start_instances.py" in output


def test_an_unreachable_host_is_named_with_what_to_check(tmp_path: Path):
    inventory = tmp_path / "hosts.yml"
    hosts = "".join(
        f"    {group}:\n      hosts:\n        {group}:\n          ansible_host: 127.0.0.1\n"
        "          ansible_port: 1\n          ansible_user: appuser\n"
        for group in ("prodserver", "devserver")
    )
    inventory.write_text(f"all:\n  children:\n{hosts}")
    result = ansible_playbook("configuration.yml", "-i", str(inventory), "-e", "preflight_connect_timeout=2")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Cannot reach prodserver as appuser@127.0.0.1:1" in output
    assert "start_instances.py --status" in output
    assert "Configure the production server" not in output
