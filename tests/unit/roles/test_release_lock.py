"""The release lock every writer of the release shares (roles/model_serving/files/mlstack-lock), run for real
in a directory of its own: a hold outlives the command and keeps flock(1) writers out until it is
released or its time is up; a hold waits for another writer and gives up naming it. (The deploy and the
delivery to worker machines take the same lock: tests/integration/git_deploy.)"""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

LOCK = Path(__file__).resolve().parents[3] / "roles" / "model_serving" / "files" / "mlstack-lock"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mlstack-lock runs as root")


@pytest.fixture
def lock_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "run-mlstack"
    yield directory
    mlstack_lock(directory, "release")


def mlstack_lock(lock_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLSTACK_LOCK_DIR": str(lock_dir)}
    return subprocess.run(
        [str(LOCK), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def another_writer_gets_it(lock_dir: Path) -> bool:
    """What mlstack-deploy and mlstack-sync-workers do: flock the same file (without waiting here)."""
    result = subprocess.run(["flock", "-n", str(lock_dir / "release.lock"), "true"], check=False)
    return result.returncode == 0


def test_hold_keeps_the_lock_after_it_returns_until_release(lock_dir: Path):
    held = mlstack_lock(lock_dir, "hold", "--owner", "a test", "--max", "120")
    assert held.returncode == 0, held.stderr
    assert held.stdout.strip() == "held by a test"
    assert stat.S_IMODE(lock_dir.stat().st_mode) == 0o700 and lock_dir.stat().st_uid == 0
    assert not another_writer_gets_it(lock_dir)
    assert mlstack_lock(lock_dir, "status").stdout.startswith("held by a test (mlstack-lock hold, since ")

    released = mlstack_lock(lock_dir, "release")
    assert released.returncode == 0 and released.stdout.strip() == "released", released.stderr
    assert another_writer_gets_it(lock_dir)
    assert mlstack_lock(lock_dir, "status").stdout.strip() == "free"
    again = mlstack_lock(lock_dir, "release")
    assert again.returncode == 0 and again.stdout == ""


def test_hold_ends_by_itself_after_max_seconds(lock_dir: Path):
    assert mlstack_lock(lock_dir, "hold", "--owner", "a run that died", "--max", "1").returncode == 0
    assert not another_writer_gets_it(lock_dir)
    deadline = time.monotonic() + 15
    while not another_writer_gets_it(lock_dir):
        assert time.monotonic() < deadline, "the holder kept the lock past --max"
        time.sleep(0.5)


def test_hold_waits_for_another_writer_then_gives_up_naming_it(lock_dir: Path):
    lock_dir.mkdir(mode=0o700)
    (lock_dir / "release.owner").write_text("mlstack-deploy deploy 0123456789ab (pid 1)\n", encoding="utf-8")
    with (lock_dir / "release.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        started = time.monotonic()
        waited = mlstack_lock(lock_dir, "hold", "--owner", "ansible", "--wait", "2")
        assert time.monotonic() - started >= 2
    assert waited.returncode == 2
    assert "the release is locked by mlstack-deploy deploy 0123456789ab (pid 1): waiting" in waited.stdout
    assert "gave up waiting for mlstack-deploy deploy 0123456789ab" in waited.stderr
    assert another_writer_gets_it(lock_dir)


def test_hold_gets_the_lock_once_the_other_writer_is_done(lock_dir: Path):
    lock_dir.mkdir(mode=0o700)
    writer = subprocess.Popen(["flock", str(lock_dir / "release.lock"), "sleep", "2"])
    try:
        time.sleep(0.5)
        held = mlstack_lock(lock_dir, "hold", "--owner", "ansible", "--wait", "30")
        assert held.returncode == 0, held.stderr
        assert "waiting" in held.stdout and held.stdout.rstrip().endswith("held by ansible")
        assert writer.poll() == 0
    finally:
        writer.wait(timeout=10)
