"""Every script the roles install (roles/*/files/* with a shebang), as shipped: bash with strict mode,
executable, shellcheck clean. The installed copies of git_deploy's are checked on the machines too
(tests/e2e/test_2_git_push_deploy.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROLES = Path(__file__).resolve().parents[3] / "roles"
SCRIPTS = sorted(
    path for path in ROLES.glob("*/files/*") if path.is_file() and path.read_bytes().startswith(b"#!")
)


def test_the_roles_ship_their_scripts():
    assert {f"{path.parent.parent.name}/{path.name}" for path in SCRIPTS} >= {
        "git_deploy/mlstack-deploy",
        "git_deploy/pre-receive",
        "git_deploy/post-receive",
        "remote_workers/mlstack-sync-workers",
        "remote_workers/mlstack-worker-receive",
        "model_serving/mlstack-lock",
    }


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: f"{path.parent.parent.name}/{path.name}")
def test_script_is_strict_bash(script: Path):
    lines = script.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    assert script.stat().st_mode & 0o111, f"{script.name} is not executable"


def test_scripts_are_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed", pytrace=False)
    result = subprocess.run([shellcheck, *map(str, SCRIPTS)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
