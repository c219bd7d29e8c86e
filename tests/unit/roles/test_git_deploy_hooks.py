"""The deploy repository's pre-receive hook (roles/git_deploy/files/pre-receive), run for real by git on a
bare repository of its own: which refs a push may create (branches and tags are stored, other refs are
refused). Pushes here never touch a deploy branch, so the hook never calls mlstack-deploy."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HOOK = Path(__file__).resolve().parents[3] / "roles" / "git_deploy" / "files" / "pre-receive"
IDENTITY = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    if Path("/etc/mlstack/git-deploy.conf").exists():
        pytest.fail("this controller has /etc/mlstack/git-deploy.conf: the hook would read it", pytrace=False)
    bare = tmp_path / "mlstack.git"
    git(tmp_path, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    shutil.copy(HOOK, bare / "hooks" / "pre-receive")
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "--initial-branch=main", str(work))
    (work / "README").write_text("x\n", encoding="utf-8")
    git(work, "add", "README")
    git(work, "commit", "-qm", "first")
    git(work, "remote", "add", "production", str(bare))
    return work


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **IDENTITY}
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=check)


def pushed(work: Path, refspec: str) -> subprocess.CompletedProcess[str]:
    return git(work, "push", "production", refspec, check=False)


def stored(work: Path, ref: str) -> bool:
    return (
        git(
            work,
            "--git-dir",
            str(work.parent / "mlstack.git"),
            "rev-parse",
            "-q",
            "--verify",
            ref,
            check=False,
        ).returncode
        == 0
    )


def test_another_branch_is_stored_not_deployed(work: Path):
    result = pushed(work, "HEAD:refs/heads/experiment")
    assert result.returncode == 0, result.stderr
    assert "experiment: stored, not deployed (only main/master deploy)" in result.stderr
    assert stored(work, "refs/heads/experiment")


def test_a_tag_is_stored_not_deployed(work: Path):
    git(work, "tag", "v1")
    result = pushed(work, "refs/tags/v1")
    assert result.returncode == 0, result.stderr
    assert "refs/tags/v1: stored, not deployed" in result.stderr
    assert stored(work, "refs/tags/v1")


@pytest.mark.parametrize("ref", ["refs/notes/x", "refs/pull/1/head", "refs/stash-like"])
def test_a_ref_outside_branches_and_tags_is_refused(work: Path, ref: str):
    result = pushed(work, f"HEAD:{ref}")
    assert result.returncode != 0
    assert f"refusing {ref}: only branches and tags are stored (refs/heads/*, refs/tags/*)" in result.stderr
    assert not stored(work, ref)
