"""The tasks the web sends by name (see mlapp.celery_app for the names and delivery settings).

Every result names the worker that ran it: "worker" (its Celery node name) and "host" (MACHINE_HOST, the
machine it runs on)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from celery import Celery, Task

from mlapp.celery_app import EVALUATE_TASK, PREDICT_TASK
from mlapp.config import Config
from mlapp.features import parse_rows
from mlapp.worker.evaluation import Evaluator
from mlapp.worker.model_cache import ModelCache


def _predictions(probabilities: np.ndarray) -> list[dict[str, Any]]:
    out = []
    for p in probabilities:
        p = float(p)
        if not math.isfinite(p):
            raise ValueError("the model produced a non-finite probability")
        out.append({"outcome": int(p >= 0.5), "probability": round(p, 6)})
    return out


def register_tasks(app: Celery, config: Config, cache: ModelCache, evaluator: Evaluator) -> None:
    @app.task(name=PREDICT_TASK, bind=True)
    def predict(self: Task, rows: Any) -> dict[str, Any]:
        """Probabilities for rows of the 8 features (validated again: anyone on the broker can send)."""
        x = np.asarray(parse_rows(rows, config.max_rows), dtype=np.float32)
        loaded = cache.get()
        return {
            "predictions": _predictions(loaded.predictor(x)),
            "model": loaded.describe(),
            "worker": self.request.hostname,
            "host": config.machine_host,
        }

    @app.task(name=EVALUATE_TASK, bind=True)
    def evaluate(self: Task, sample_rows: int = 20) -> dict[str, Any]:
        """Accuracy on the data set and a sample of true vs predicted rows."""
        loaded = cache.get()
        result = evaluator.evaluate(loaded, sample_rows)
        result["model"] = loaded.describe()
        result["worker"] = self.request.hostname
        result["host"] = config.machine_host
        return result
