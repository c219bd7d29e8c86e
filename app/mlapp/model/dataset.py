"""The data set: fetch it (local path or URL, with an optional sha256 check) and load it into arrays.

The CSV has no header and nine numeric columns: the eight features (mlapp.features.FEATURES) and the
outcome (0/1).
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from mlapp.features import N_FEATURES

DOWNLOAD_TIMEOUT = 60.0


class DatasetError(Exception):
    """The data set cannot be fetched, does not match its checksum, or is not the expected CSV."""


@dataclass(frozen=True)
class Dataset:
    x: np.ndarray  # float32, shape (rows, N_FEATURES)
    y: np.ndarray  # int64 0/1, shape (rows,)
    sha256: str
    source: str

    @property
    def rows(self) -> int:
        return int(self.x.shape[0])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_url(source: str) -> bool:
    return urlparse(source).scheme in {"http", "https", "file"}


def fetch(source: str, workdir: Path, sha256: str | None = None) -> Path:
    """Return a local path holding the data set: `source` itself, or a download of it into workdir.

    With `sha256`, the file must have that digest (DatasetError otherwise).
    """
    if is_url(source):
        path = Path(workdir) / "dataset.csv"
        try:
            with (
                urllib.request.urlopen(source, timeout=DOWNLOAD_TIMEOUT) as response,
                open(path, "wb") as out,
            ):
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DatasetError(f"cannot download {source}: {getattr(exc, 'reason', exc)}") from exc
    else:
        path = Path(source)
        if not path.is_file():
            raise DatasetError(f"data set not found: {source}")
    if sha256:
        actual = sha256_file(path)
        if actual.lower() != sha256.strip().lower():
            raise DatasetError(
                f"sha256 mismatch for {source}: expected {sha256.strip().lower()}, got {actual}"
            )
    return path


def load_csv(path: Path, source: str | None = None) -> Dataset:
    """Load the CSV; DatasetError when it is not N_FEATURES + 1 numeric columns with a 0/1 outcome."""
    try:
        data = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path} is not a numeric CSV: {exc}") from exc
    if data.shape[0] == 0 or data.shape[1] != N_FEATURES + 1:
        raise DatasetError(f"{path}: expected rows of {N_FEATURES + 1} columns, got shape {data.shape}")
    if not np.isfinite(data).all():
        raise DatasetError(f"{path}: contains non-finite values")
    outcome = data[:, N_FEATURES]
    if not np.isin(outcome, (0.0, 1.0)).all():
        raise DatasetError(f"{path}: the last column (Outcome) must be 0 or 1")
    return Dataset(
        x=data[:, :N_FEATURES].astype(np.float32),
        y=outcome.astype(np.int64),
        sha256=sha256_file(path),
        source=source or str(path),
    )
