"""The app images install their Python packages with hashes: a package index that serves another file for a
pinned version fails the build (app/Dockerfile, pip --require-hashes with app/requirements-web.txt).

The index is a small server on 127.0.0.1: it sends pip to PyPI for every package but one (blinker), for
which it serves a file of its own under the pinned version's name. The build runs with the host's network
(`docker build --network host`), so the build's pip reaches that server on the host's loopback."""

from __future__ import annotations

import hashlib
import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from app_services import APP, REPO

TAMPERED = "blinker"
PYPI = "https://pypi.org/simple"


def _pinned_version(requirements: Path, name: str) -> str:
    for line in requirements.read_text(encoding="utf-8").splitlines():
        if line.lower().startswith(f"{name}=="):
            return line.split("==", 1)[1].split()[0]
    raise AssertionError(f"{name} is not pinned in {requirements}")


def _requirements_with_hashes(path: Path) -> dict[str, list[str]]:
    """Each pinned requirement of a pip-compile --generate-hashes file -> its hashes."""
    pins: dict[str, list[str]] = {}
    current = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip().rstrip("\\").strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("--hash="):
            pins[current].append(text.removeprefix("--hash="))
        else:
            current = text
            pins[current] = []
    return pins


@pytest.mark.parametrize(
    "path",
    [
        APP / "requirements-web.txt",
        APP / "requirements-worker.txt",
        REPO / "roles/ml_dev/files/requirements.txt",
    ],
    ids=["web", "worker", "ml_dev"],
)
def test_every_requirement_is_pinned_with_hashes(path: Path) -> None:
    pins = _requirements_with_hashes(path)
    assert pins, path
    for requirement, hashes in pins.items():
        assert "==" in requirement and not requirement.startswith("-"), requirement
        assert hashes and all(h.startswith("sha256:") and len(h) == 71 for h in hashes), requirement


class _Index(http.server.BaseHTTPRequestHandler):
    wheel_name = ""
    wheel = b""

    def do_GET(self) -> None:
        if self.path.rstrip("/") == f"/simple/{TAMPERED}":
            body = f'<html><body><a href="/files/{self.wheel_name}">{self.wheel_name}</a></body></html>'
            self._send(200, body.encode(), "text/html")
        elif self.path == f"/files/{self.wheel_name}":
            self._send(200, self.wheel, "application/octet-stream")
        elif self.path.startswith("/simple/"):
            self.send_response(302)
            self.send_header("Location", PYPI + self.path.removeprefix("/simple"))
            self.end_headers()
        else:
            self._send(404, b"", "text/plain")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tampered_index() -> Iterator[str]:
    version = _pinned_version(APP / "requirements-web.txt", TAMPERED)
    _Index.wheel_name = f"{TAMPERED}-{version}-py3-none-any.whl"
    _Index.wheel = b"not the file PyPI has " + os.urandom(16)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_an_index_serving_another_file_fails_the_image_build(tampered_index: str) -> None:
    base = subprocess.run(
        [str(REPO / "scripts" / "build-python-base.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    ).stdout.strip()
    result = subprocess.run(
        ["docker", "build", "--network", "host", "--target", "web-venv", "--build-arg", f"BASE_IMAGE={base}",
         "--build-arg", f"PIP_INDEX_URL={tampered_index}", "--rm", "--force-rm", str(APP)],
        capture_output=True, text=True, timeout=900, env={**os.environ, "DOCKER_BUILDKIT": "0"},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "DO NOT MATCH THE HASHES" in output and TAMPERED in output, output[-3000:]
    served = hashlib.sha256(_Index.wheel).hexdigest()
    assert served in output, output[-3000:]  # pip names the hash of the file it got
