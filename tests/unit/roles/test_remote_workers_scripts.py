"""The guard of the role remote_workers' receive command (the only thing prodserver's delivery key may run
on a worker machine), run for real against a directory of its own: what it installs, what it refuses,
and what its status reports. (Strict bash and shellcheck: test_role_scripts.py.)"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

FILES = Path(__file__).resolve().parents[3] / "roles" / "remote_workers" / "files"
RECEIVE = FILES / "mlstack-worker-receive"
POLICY = FILES / "compose_policy.py"
REF = "mlstack/worker:test-does-not-exist"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the receive command runs as root")


@pytest.fixture
def worker_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "worker"
    (directory / "model").mkdir(parents=True)
    config = tmp_path / "remote-worker.conf"
    config.write_text(
        f"WORKER_DIR={directory}\nPROJECT=rw-test\nREPLICAS=1\nAPP_UID={os.getuid()}\nUP_TIMEOUT=30\n"
        f"COMPOSE_POLICY={POLICY}\nCOMPOSE_SERVICES=rabbitmq,web,worker,train\n",
        encoding="utf-8",
    )
    return directory


def receive(worker_dir: Path, args: list[str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "MLSTACK_WORKER_CONFIG": str(worker_dir.parent / "remote-worker.conf")}
    return subprocess.run([str(RECEIVE), *args], input=stdin, capture_output=True, env=env, check=False)


def tar_of(members: dict[str, bytes], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        if symlink is not None:
            info = tarfile.TarInfo(symlink)
            info.type = tarfile.SYMTYPE
            info.linkname = "/etc/passwd"
            archive.addfile(info)
    return buffer.getvalue()


def status(worker_dir: Path) -> dict[str, str]:
    result = receive(worker_dir, ["status", REF])
    assert result.returncode == 0, result.stderr.decode()
    lines = [line.split() for line in result.stdout.decode().splitlines()]
    return {" ".join(parts[:-1]): parts[-1] for parts in lines if parts[0] in {"image", "file"}}


def test_files_are_installed_and_reported_by_status(worker_dir: Path):
    files = {
        "compose.yaml": b"services: {}\n",
        "model/model.keras": b"PK\x03\x04model",
        "data/dataset.csv": b"1\n",
    }
    result = receive(worker_dir, ["files"], tar_of(files))
    assert result.returncode == 0, result.stderr.decode()
    for name, content in files.items():
        assert (worker_dir / name).read_bytes() == content
        assert (worker_dir / name).stat().st_mode & 0o777 == 0o644
    found = status(worker_dir)
    assert found["image"] == "missing"
    for name, content in files.items():
        assert found[f"file {name}"] == hashlib.sha256(content).hexdigest()
    assert found["file model/metadata.json"] == "missing"
    assert not list(worker_dir.glob(".incoming-*")), "the staging directory was left behind"


@pytest.mark.parametrize(
    ("members", "symlink", "complaint"),
    [
        ({"../escape.txt": b"x"}, None, ""),
        ({"model/other.bin": b"x"}, None, "refusing 'model/other.bin'"),
        ({"compose.yaml": b""}, None, "compose.yaml is empty"),
        ({}, "model/model.keras", "not a regular file"),
    ],
    ids=["parent-path", "unknown-name", "empty-file", "symlink"],
)
def test_files_outside_the_delivered_set_are_refused(
    worker_dir: Path, members: dict[str, bytes], symlink: str | None, complaint: str
):
    result = receive(worker_dir, ["files"], tar_of(members, symlink))
    assert result.returncode != 0, result.stdout.decode()
    assert complaint in result.stderr.decode()
    assert not (worker_dir.parent / "escape.txt").exists()
    assert not (worker_dir / "model" / "other.bin").exists()
    assert not (worker_dir / "compose.yaml").exists()
    assert not (worker_dir / "model" / "model.keras").exists()


PRIVILEGED = b"""services:
  worker:
    image: busybox
    privileged: true
    volumes: ["/:/host"]
"""


def test_a_compose_file_that_could_take_the_machine_is_refused_and_nothing_is_installed(worker_dir: Path):
    """Whoever holds the delivery key cannot run a privileged container here (issue 13)."""
    (worker_dir / "compose.yaml").write_bytes(b"services: {}\n")
    archive = tar_of({"compose.yaml": PRIVILEGED, "model/model.keras": b"PK\x03\x04"})
    result = receive(worker_dir, ["files"], archive)
    assert result.returncode != 0, result.stdout.decode()
    errors = result.stderr.decode()
    assert "compose.yaml refused: service worker: privileged is not allowed" in errors, errors
    assert "bind mount: / is not one of the paths" in errors, errors
    assert (worker_dir / "compose.yaml").read_bytes() == b"services: {}\n"
    assert not (worker_dir / "model" / "model.keras").exists()
    assert not list(worker_dir.glob(".incoming-*")), "the staging directory was left behind"


@pytest.mark.parametrize(
    "args",
    [["rm -rf /"], ["status"], ["status", "not a ref; reboot"], ["activate", "$(reboot)"], []],
    ids=["unknown-command", "status-without-ref", "bad-ref", "activate-injection", "nothing"],
)
def test_bad_commands_are_refused(worker_dir: Path, args: list[str]):
    result = receive(worker_dir, args)
    assert result.returncode == 2, result.stdout.decode()
    assert result.stderr.decode().startswith("mlstack-worker-receive: ")
