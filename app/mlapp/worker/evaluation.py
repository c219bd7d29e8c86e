"""What /predictions and /accuracy show: the model's hold-out metrics (recorded in its metadata at
training: rows the model never saw), its accuracy on the whole data set file (which includes the rows it
was trained on, so it flatters the model), and a sample of rows for the /predictions table.

The predictions for the whole data set are computed once per (model version, data file version) and
kept; a page view then costs a dictionary lookup.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlapp.config import MAX_SAMPLE_ROWS
from mlapp.errors import DataUnavailable
from mlapp.model import metrics
from mlapp.model.dataset import Dataset, DatasetError, load_csv
from mlapp.worker.model_cache import FileSignature, LoadedModel

SAMPLE_SEED = 0


@dataclass(frozen=True)
class _Scored:
    key: tuple[FileSignature, FileSignature]
    dataset: Dataset
    probabilities: np.ndarray
    predicted: np.ndarray


class Evaluator:
    def __init__(self, data_file: Path) -> None:
        self.data_file = Path(data_file)
        self._scored: _Scored | None = None
        self._lock = threading.Lock()

    def _score(self, loaded: LoadedModel) -> _Scored:
        try:
            data_signature = FileSignature.of(self.data_file)
        except OSError as exc:
            raise DataUnavailable(f"data set not readable at {self.data_file}: {exc.strerror}") from None
        key = (loaded.signature, data_signature)
        with self._lock:
            if self._scored is None or self._scored.key != key:
                try:
                    dataset = load_csv(self.data_file)
                except DatasetError as exc:
                    raise DataUnavailable(str(exc)) from None
                probabilities = loaded.predictor(dataset.x)
                predicted = (probabilities >= metrics.THRESHOLD).astype(np.int64)
                self._scored = _Scored(key, dataset, probabilities, predicted)
            return self._scored

    def evaluate(self, loaded: LoadedModel, sample_rows: int) -> dict[str, Any]:
        scored = self._score(loaded)
        y, predicted = scored.dataset.y, scored.predicted
        rows = int(y.shape[0])
        count = max(0, min(int(sample_rows), MAX_SAMPLE_ROWS, rows))
        rng = np.random.default_rng(SAMPLE_SEED)
        indices = np.sort(rng.choice(rows, size=count, replace=False)) if count else np.array([], dtype=int)
        meta = loaded.metadata or {}
        holdout = meta.get("holdout") if isinstance(meta.get("holdout"), dict) else None
        return {
            "accuracy": holdout.get("accuracy") if holdout else None,
            "holdout": holdout,
            "train_accuracy": meta.get("train_accuracy"),
            "data_set": {
                "accuracy": metrics.accuracy(y, predicted),
                "rows": rows,
                "correct": int((predicted == y).sum()),
                "confusion": metrics.confusion_matrix(y, predicted),
            },
            "sample": [
                {
                    "row": int(i),
                    "features": [float(v) for v in scored.dataset.x[i]],
                    "true": int(y[i]),
                    "predicted": int(predicted[i]),
                    "probability": round(float(scored.probabilities[i]), 6),
                }
                for i in indices
            ],
            "data_sha256": scored.dataset.sha256,
        }
