"""The worker's Celery app: `celery -A mlapp.worker.main worker`.

With WORKER_CONCURRENCY=1 (the default) the worker runs tasks in its main process (solo pool); with more,
it forks that many processes (prefork pool). Either way each process loads the model once: at start when
the file is there, else on the first task.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.signals import worker_process_init, worker_ready

from mlapp.celery_app import make_celery
from mlapp.config import Config
from mlapp.worker import prompt_acks
from mlapp.worker.evaluation import Evaluator
from mlapp.worker.model_cache import ModelCache, ModelUnavailable
from mlapp.worker.tasks import register_tasks

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
log = logging.getLogger(__name__)

config = Config.from_env()
app = make_celery(config, name="mlapp.worker")
app.conf.worker_pool = "solo" if config.worker_concurrency == 1 else "prefork"
cache = ModelCache(config.model_path, config.metadata_path)
evaluator = Evaluator(config.data_file)
register_tasks(app, config, cache, evaluator)
prompt_acks.install(app)


def warm_up() -> None:
    try:
        cache.get()
    except ModelUnavailable as exc:
        log.warning("no model loaded yet: %s", exc)


@worker_process_init.connect
def _load_in_pool_process(**_: Any) -> None:
    warm_up()  # prefork: each child process loads its own copy (TensorFlow is not fork-safe)


@worker_ready.connect
def _load_in_main_process(sender: Any = None, **_: Any) -> None:
    pool = getattr(sender, "pool", None)
    if type(pool).__module__.endswith((".solo", ".threads")):
        warm_up()  # solo/threads: tasks run in this process
