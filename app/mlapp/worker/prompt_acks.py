"""Send late acknowledgements at once instead of up to ~2 s later.

Celery 5.5 acknowledges a finished task through `hub.call_soon`, and kombu's event loop polls its sockets
before it runs such callbacks when they were scheduled by another callback (celery/celery#7718,
celery/kombu#1587, unfixed in kombu 5.5). With acks_late and prefetch 1 the broker sends the next
task only after that acknowledgement, so a busy worker idles for a whole poll timeout (up to 2 s)
between tasks. This bootstep runs the pending callbacks right before each poll.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, bootsteps

log = logging.getLogger(__name__)

MAX_ROUNDS = 32  # callbacks may schedule callbacks (a read that found a task); keep a tick bounded


def run_ready_callbacks(hub: Any) -> None:
    pop_ready = getattr(hub, "_pop_ready", None)
    if pop_ready is None:  # a kombu without the private helper: leave the loop alone
        return
    for _ in range(MAX_ROUNDS):
        ready = pop_ready()
        if not ready:
            return
        for callback in ready:
            if callback:
                callback()


class PromptAcks(bootsteps.StartStopStep):
    """Worker bootstep: register run_ready_callbacks as a tick callback of the worker's event loop."""

    requires = ("celery.worker.components:Hub",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self._tick = None

    def start(self, worker: Any) -> None:
        hub = getattr(worker, "hub", None)
        if hub is None:  # no event loop (e.g. gevent/eventlet pools)
            return
        self._tick = lambda: run_ready_callbacks(hub)
        hub.on_tick.add(self._tick)
        log.debug("prompt acknowledgements enabled")

    def stop(self, worker: Any) -> None:
        hub = getattr(worker, "hub", None)
        if hub is not None and self._tick is not None:
            hub.on_tick.discard(self._tick)


def install(app: Celery) -> None:
    app.steps["worker"].add(PromptAcks)
