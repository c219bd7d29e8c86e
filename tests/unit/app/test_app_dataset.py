"""Fetching and loading the data set (mlapp.model.dataset)."""

from __future__ import annotations

import functools
import http.server
import threading

import numpy as np
import pytest

from mlapp.model.dataset import DatasetError, fetch, load_csv, sha256_file


@pytest.fixture
def http_root(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path; yields its base URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_load_the_real_data_set(mlapp_data_csv, mlapp_data_sha256):
    data = load_csv(mlapp_data_csv)
    assert data.x.shape == (768, 8) and data.x.dtype == np.float32
    assert set(np.unique(data.y)) == {0, 1}
    assert data.sha256 == mlapp_data_sha256 == sha256_file(mlapp_data_csv)


def test_local_path_with_matching_sha256(mlapp_data_csv, mlapp_data_sha256, tmp_path):
    assert fetch(str(mlapp_data_csv), tmp_path, mlapp_data_sha256.upper()) == mlapp_data_csv


def test_local_path_with_wrong_sha256(mlapp_data_csv, tmp_path):
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        fetch(str(mlapp_data_csv), tmp_path, "0" * 64)


def test_missing_local_path(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        fetch(str(tmp_path / "nope.csv"), tmp_path)


def test_download_over_http_with_sha256(mlapp_data_csv, mlapp_data_sha256, tmp_path, http_root):
    (tmp_path / "d.csv").write_bytes(mlapp_data_csv.read_bytes())
    work = tmp_path / "work"
    work.mkdir()
    path = fetch(f"{http_root}/d.csv", work, mlapp_data_sha256)
    assert path.parent == work and sha256_file(path) == mlapp_data_sha256
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        fetch(f"{http_root}/d.csv", work, "f" * 64)
    with pytest.raises(DatasetError, match="cannot download"):
        fetch(f"{http_root}/missing.csv", work)


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("1,2,3\n", "expected rows of 9 columns"),
        ("1,2,3,4,5,6,7,8,2\n", "must be 0 or 1"),
        ("a,b,c,d,e,f,g,h,i\n", "not a numeric CSV"),
        ("1,2,3,4,5,6,7,8,nan\n", "non-finite"),
    ],
)
def test_malformed_csv(tmp_path, text, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DatasetError, match=fragment):
        load_csv(path)
