"""Send a task to the workers by name and wait for its result, never longer than a timeout."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout
from kombu.exceptions import KombuError, OperationalError

log = logging.getLogger(__name__)

# Exceptions raised on the worker that mean "cannot serve right now" rather than "bug".
_UNAVAILABLE_ON_WORKER = {"ModelUnavailable", "DataUnavailable"}


@dataclass
class WorkerUnavailable(Exception):
    """No answer from a worker: broker down, no worker within the timeout, or no model loaded (503)."""

    reason: str  # "broker" | "timeout" | "model"
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class WorkerFailed(Exception):
    """A worker ran the task and it raised (502)."""

    error_type: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class Dispatcher:
    celery: Celery
    timeout: float

    def call(self, task: str, *args: Any, timeout: float | None = None) -> Any:
        wait = self.timeout if timeout is None else timeout
        try:
            # expires: a task nobody picked up within the wait is dropped, not run later for nobody.
            result = self.celery.send_task(task, args=list(args), expires=wait)
        except (OperationalError, KombuError, OSError) as exc:
            log.warning("cannot send %s: %s", task, exc)
            raise WorkerUnavailable("broker", f"the message broker is not reachable ({exc})") from None
        try:
            return result.get(timeout=wait, propagate=True)
        except CeleryTimeout:
            raise WorkerUnavailable(
                "timeout", f"no worker answered within {wait:g} s: the worker service may be down or busy"
            ) from None
        except (OperationalError, KombuError, OSError) as exc:
            raise WorkerUnavailable("broker", f"lost the message broker while waiting ({exc})") from None
        except Exception as exc:
            name = type(exc).__name__
            if name in _UNAVAILABLE_ON_WORKER:
                raise WorkerUnavailable("model", str(exc)) from None
            log.warning("task %s failed on the worker: %s: %s", task, name, exc)
            raise WorkerFailed(name, str(exc)) from None
        finally:
            _forget(result)


def _forget(result: Any) -> None:
    """Drop the client-side bookkeeping of a result that will never be waited for again."""
    with contextlib.suppress(Exception):
        result.backend.remove_pending_result(result)
