"""Every test that reaches the reachability probes (provisioner/probe.py) probes a server on
loopback that answers, unless it points them elsewhere itself: no test sends traffic off this machine."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from provisioner import probe


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(401 if self.path.startswith("/v2/") else 200)  # Docker Hub answers 401
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def probes_on_loopback(server: str, monkeypatch) -> None:
    monkeypatch.setattr(
        probe,
        "INSTALL_SOURCES",
        (("Docker's apt repository", f"{server}/linux/debian/gpg"), ("Docker Hub", f"{server}/v2/")),
    )
    monkeypatch.setattr(probe, "DATASET_URL", f"{server}/pima-indians-diabetes.data.csv")
