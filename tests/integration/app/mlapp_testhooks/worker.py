"""The production worker app with test hooks: `celery --app mlapp_testhooks.worker worker`."""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from celery import Task

from mlapp.celery_app import EVALUATE_TASK, PREDICT_TASK
from mlapp.features import parse_rows
from mlapp.worker.main import app, config
from mlapp.worker.tasks import _predictions
from mlapp_testhooks import PREDICT_RELOAD_TASK

DELAY = float(os.environ.get("MLAPP_TEST_TASK_DELAY") or 0)
FAIL = os.environ.get("MLAPP_TEST_TASK_FAIL") or ""

__all__ = ["app"]


def _hooked(run: Any) -> Any:
    @functools.wraps(run)
    def hooked(*args: Any, **kwargs: Any) -> Any:
        if DELAY:
            time.sleep(DELAY)
        if FAIL:
            raise RuntimeError(FAIL)
        return run(*args, **kwargs)

    return hooked


def predict_reloading(path: Path, x: np.ndarray) -> np.ndarray:
    """The original lab's pattern: load the model from disk and call model.predict() for every request."""
    import keras

    import mlapp.model.network  # noqa: F401  (registers the model's custom layer)

    model = keras.models.load_model(path)
    return model.predict(np.asarray(x, dtype=np.float32), verbose=0).reshape(-1).astype(np.float64)


@app.task(name=PREDICT_RELOAD_TASK, bind=True)
def predict_reload_each_time(self: Task, rows: Any) -> dict[str, Any]:
    """The original lab's pattern, for the benchmark: load the model from disk on every task."""
    x = np.asarray(parse_rows(rows, config.max_rows), dtype=np.float32)
    return {
        "predictions": _predictions(predict_reloading(config.model_path, x)),
        "model": {"sha256": None, "reloaded": True},
        "worker": self.request.hostname,
        "host": config.machine_host,
    }


for _name in (PREDICT_TASK, EVALUATE_TASK, PREDICT_RELOAD_TASK):
    _task = app.tasks[_name]
    _task.run = _hooked(_task.run)
