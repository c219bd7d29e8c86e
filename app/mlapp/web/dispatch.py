"""Send a task to the workers by name and wait for its result, never longer than a timeout.

Errors carry two texts: `message`, public and fixed (no path, no exception text, no broker URL), and
`detail`, for the log only (mlapp.web.errors logs it with the request id). Workers say "cannot serve right
now" with the classes of mlapp.errors, which Celery recreates here by module and class name.

A Dispatcher lets at most `max_waiting` requests of this process wait for a worker at once; one more
answers 503 at once ("busy") instead of holding a web thread, so /livez, /healthz and the pages always
find a free thread (gunicorn.conf.py sizes both).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout
from kombu.exceptions import KombuError, OperationalError

from mlapp.errors import ServiceUnavailable

log = logging.getLogger(__name__)

RETRY_AFTER = 5  # seconds a client is asked to wait after a 503
RETRY_AFTER_BUSY = 1

PUBLIC_MESSAGES = {
    "broker": "the message broker is not reachable; try again later",
    "model": "no model is loaded on the worker: train or deliver one",
    "data": "the data set is not available on the worker",
    "worker": "the worker cannot serve this request right now",
    "busy": "too many requests are waiting for a worker; try again shortly",
}


@dataclass
class WorkerUnavailable(Exception):
    """No answer from a worker (503): reason "broker" | "timeout" | "busy" | "model" | "data" | "worker"."""

    reason: str
    message: str
    detail: str = ""
    retry_after: int = RETRY_AFTER

    def __str__(self) -> str:
        return self.message


@dataclass
class WorkerFailed(Exception):
    """A worker ran the task and it raised something unexpected (502). `detail` is for the log only."""

    task: str
    detail: str = ""
    message: str = field(default="the worker failed to run the task; see the worker service's log")

    def __str__(self) -> str:
        return self.message


def unavailable(reason: str, detail: str = "") -> WorkerUnavailable:
    retry = RETRY_AFTER_BUSY if reason == "busy" else RETRY_AFTER
    return WorkerUnavailable(reason, PUBLIC_MESSAGES[reason], detail, retry)


class TaskDispatcher(Protocol):
    """What the views need: call a task by name and get its result, or WorkerUnavailable/WorkerFailed."""

    def call(self, task: str, *args: Any, timeout: float | None = None) -> Any: ...


@dataclass
class Dispatcher:
    celery: Celery
    timeout: float
    max_waiting: int | None = None  # None: no limit
    _slots: threading.BoundedSemaphore | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.max_waiting is not None:
            self._slots = threading.BoundedSemaphore(self.max_waiting)

    def call(self, task: str, *args: Any, timeout: float | None = None) -> Any:
        if self._slots is None:
            return self._call(task, args, timeout)
        if not self._slots.acquire(blocking=False):
            raise unavailable("busy", f"{self.max_waiting} requests of this process already wait for {task}")
        try:
            return self._call(task, args, timeout)
        finally:
            self._slots.release()

    def _call(self, task: str, args: tuple[Any, ...], timeout: float | None) -> Any:
        wait = self.timeout if timeout is None else timeout
        try:
            # expires: a task nobody picked up within the wait is dropped, not run later for nobody.
            result = self.celery.send_task(task, args=list(args), expires=wait)
        except (OperationalError, KombuError, OSError) as exc:
            raise unavailable("broker", f"cannot send {task}: {exc}") from None
        try:
            # propagate=False: an exception raised on the worker comes back as a value, so it is never
            # mistaken for a connection error of this process (both may be an OSError).
            value = result.get(timeout=wait, propagate=False)
            failed = result.state != "SUCCESS"
        except CeleryTimeout:
            raise WorkerUnavailable(
                "timeout",
                f"no worker answered within {wait:g} s: the worker service may be down or busy",
                f"{task} {result.id}: no answer within {wait:g} s",
            ) from None
        except (OperationalError, KombuError, OSError) as exc:
            detail = f"lost the broker while waiting for {task} {result.id}: {exc}"
            raise unavailable("broker", detail) from None
        finally:
            _forget(result)
        if not failed:
            return value
        raise failure(task, result.id, value)


def failure(task: str, task_id: str, exc: object) -> WorkerUnavailable | WorkerFailed:
    """What the exception a worker raised (as Celery recreated it here) means for the client: one of
    mlapp.errors' ServiceUnavailable classes -> 503 with its reason, anything else -> 502."""
    detail = f"{task} {task_id} failed on the worker: {type(exc).__name__}: {exc}"
    if isinstance(exc, ServiceUnavailable):
        return unavailable(exc.reason, detail)
    return WorkerFailed(task, detail)


def _forget(result: Any) -> None:
    """Drop the client-side bookkeeping of a result that will never be waited for again."""
    with contextlib.suppress(Exception):
        result.backend.remove_pending_result(result)
