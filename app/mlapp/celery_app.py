"""The Celery application shared by the web side (which only sends tasks, by name) and the worker.

Task names are the interface between the two: the web never imports the worker's code (nor TensorFlow).
Delivery settings make a task survive a killed worker: the message is acknowledged only after the task
ran (acks_late), a worker holds one unacknowledged message at a time (prefetch 1), and a task whose
worker process died is rejected back to the queue (reject_on_worker_lost) so another worker runs it.
"""

from __future__ import annotations

from celery import Celery

from mlapp.config import Config

PREDICT_TASK = "model.predict"
EVALUATE_TASK = "model.evaluate"
QUEUE = "mlapp"


def make_celery(config: Config, name: str = "mlapp", fail_fast: bool = False) -> Celery:
    """The Celery app. fail_fast (the web side): give up on an unreachable broker within about a second,
    so a request answers 503 instead of waiting; otherwise (the worker) reconnect for as long as it takes."""
    app = Celery(name, broker=config.broker_url, backend=config.result_backend)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_concurrency=config.worker_concurrency,
        worker_send_task_events=False,
        task_send_sent_event=False,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
    )
    if fail_fast:
        retry = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
        app.conf.update(
            broker_connection_timeout=config.health_timeout,
            broker_transport_options=retry,
            task_publish_retry_policy=retry,
        )
    return app
