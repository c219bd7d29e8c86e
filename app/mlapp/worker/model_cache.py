"""The model of one worker process: loaded once, reloaded when model.keras changes on disk.

Before each task the cache stats the file (a few microseconds) and compares (inode, size, mtime) with
the loaded copy; the training CLI replaces the file atomically, so a changed signature always means a
complete new file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlapp.errors import ModelUnavailable
from mlapp.model.metadata import read_metadata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileSignature:
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileSignature:
        st = os.stat(path)
        return cls(inode=st.st_ino, size=st.st_size, mtime_ns=st.st_mtime_ns)


@dataclass(frozen=True)
class LoadedModel:
    predictor: Any  # mlapp.model.network.Predictor (kept untyped: importing it pulls in TensorFlow)
    signature: FileSignature
    sha256: str
    metadata: dict[str, Any] | None
    generation: int

    def describe(self) -> dict[str, Any]:
        """What the answers say about the model that produced them."""
        meta = self.metadata or {}
        holdout = meta.get("holdout") if isinstance(meta.get("holdout"), dict) else None
        return {
            "sha256": self.sha256,
            "trained_at": meta.get("trained_at"),
            # metadata from before the hold-out split scored the model on its own training rows only
            "holdout_accuracy": holdout.get("accuracy") if holdout else None,
            "train_accuracy": meta.get("train_accuracy") if holdout else meta.get("accuracy"),
            "data_sha256": meta.get("data_sha256"),
            "epochs": meta.get("epochs"),
            "generation": self.generation,
        }


def _default_loader(path: Path) -> Any:
    from mlapp.model.network import load_predictor

    return load_predictor(path)


class ModelCache:
    def __init__(
        self,
        model_path: Path,
        metadata_path: Path,
        loader: Callable[[Path], Any] = _default_loader,
    ) -> None:
        self.model_path = Path(model_path)
        self.metadata_path = Path(metadata_path)
        self._loader = loader
        self._loaded: LoadedModel | None = None
        self._lock = threading.Lock()
        self.loads = 0

    def get(self) -> LoadedModel:
        """The current model, reloading it first when the file changed since it was loaded."""
        try:
            signature = FileSignature.of(self.model_path)
        except FileNotFoundError:
            raise ModelUnavailable(f"no model at {self.model_path}: train one first") from None
        except OSError as exc:
            raise ModelUnavailable(f"cannot read {self.model_path}: {exc}") from None
        loaded = self._loaded
        if loaded is not None and loaded.signature == signature:
            return loaded
        with self._lock:
            if self._loaded is None or self._loaded.signature != signature:
                self._loaded = self._load(signature)
            return self._loaded

    def _load(self, signature: FileSignature) -> LoadedModel:
        # The file may be replaced while it is read: load until the signature is the same before and
        # after, so the hash, the metadata and the model all belong to one version.
        for _ in range(3):
            try:
                data = self.model_path.read_bytes()
                predictor = self._loader(self.model_path)
                after = FileSignature.of(self.model_path)
            except Exception as exc:
                raise ModelUnavailable(f"cannot load {self.model_path}: {exc}") from exc
            if after == signature:
                break
            signature = after
        else:
            signature = FileSignature(-1, -1, -1)  # still changing: reload on the next task
        self.loads += 1
        loaded = LoadedModel(
            predictor=predictor,
            signature=signature,
            sha256=hashlib.sha256(data).hexdigest(),
            metadata=read_metadata(self.metadata_path),
            generation=self.loads,
        )
        log.info("loaded model %s (sha256 %s, load #%d)", self.model_path, loaded.sha256[:12], self.loads)
        return loaded
