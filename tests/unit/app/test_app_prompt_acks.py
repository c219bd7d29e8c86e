"""The worker's prompt-acknowledgement bootstep (mlapp.worker.prompt_acks) on a real kombu event loop."""

from __future__ import annotations

from kombu.asynchronous import Hub

from mlapp.celery_app import make_celery
from mlapp.config import Config
from mlapp.worker.prompt_acks import MAX_ROUNDS, PromptAcks, install, run_ready_callbacks


def test_pending_callbacks_run_before_the_poll_including_the_ones_they_schedule():
    hub = Hub()
    calls = []
    hub.call_soon(lambda: (calls.append("ack"), hub.call_soon(lambda: calls.append("read again"))))
    run_ready_callbacks(hub)
    assert calls == ["ack", "read again"]
    run_ready_callbacks(hub)  # nothing pending: nothing happens
    assert calls == ["ack", "read again"]


def test_a_callback_that_keeps_rescheduling_itself_cannot_hold_the_loop():
    hub = Hub()
    calls = []

    def forever():
        calls.append(1)
        hub.call_soon(forever)

    hub.call_soon(forever)
    run_ready_callbacks(hub)
    assert len(calls) == MAX_ROUNDS


def test_installed_as_a_worker_bootstep_hooked_on_the_hub_tick():
    app = make_celery(Config(broker_url="amqp://x:y@127.0.0.1:1//"))
    install(app)
    assert PromptAcks in app.steps["worker"]

    class Worker:
        hub = Hub()

    worker = Worker()
    step = PromptAcks(worker)
    step.start(worker)
    assert len(worker.hub.on_tick) == 1
    step.stop(worker)
    assert not worker.hub.on_tick
