"""The role's scripts, as shipped in the repository: bash with strict mode, shellcheck clean (the
installed copies, publish-model's rendered template included, are checked on the machines by
test_git_push_deploy.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parents[3] / "roles" / "git_deploy" / "files"
SCRIPTS = sorted(path for path in FILES.iterdir() if path.is_file())


def test_the_role_ships_the_hooks_and_the_deploy_command():
    assert {path.name for path in SCRIPTS} == {"mlstack-deploy", "pre-receive", "post-receive"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
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
