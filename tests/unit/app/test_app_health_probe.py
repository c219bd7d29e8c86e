"""The health probe behind /healthz and /status (mlapp.web.health.ProbeCache): one probe at a time per
process, its answer cached for a short time, and callers never held longer than a hard deadline, even when
the probe itself hangs (a probe run is a function the test controls; no broker involved)."""

from __future__ import annotations

import threading

from mlapp.web.health import Probe, ProbeCache

OK = Probe(broker_ok=True, broker="ok", workers=["w@h"])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_answers_are_cached_for_the_ttl():
    runs = []
    clock = Clock()
    cache = ProbeCache(lambda: runs.append(1) or OK, ttl=2.0, deadline=5.0, clock=clock)
    assert [cache.get() for _ in range(10)] == [OK] * 10
    assert len(runs) == 1
    clock.now += 1.9
    cache.get()
    assert len(runs) == 1
    clock.now += 0.2
    cache.get()
    assert len(runs) == 2


def test_a_hanging_probe_does_not_hold_the_callers():
    release = threading.Event()
    started = []

    def hanging() -> Probe:
        started.append(1)
        release.wait(60)
        return OK

    cache = ProbeCache(hanging, ttl=2.0, deadline=0.2)
    answers: list[Probe] = []
    callers = [threading.Thread(target=lambda: answers.append(cache.get())) for _ in range(5)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=30)
    try:
        assert not any(caller.is_alive() for caller in callers), "a caller is still held by the probe"
        assert len(answers) == 5 and all(not a.ok and a.broker == "unreachable" for a in answers)
        assert len(started) == 1  # single flight: one probe for every waiting caller
    finally:
        release.set()


def test_a_failing_probe_counts_as_unavailable():
    def failing() -> Probe:
        raise RuntimeError("/secret/path")

    answer = ProbeCache(failing, ttl=2.0, deadline=5.0).get()
    assert not answer.ok and answer.broker == "unreachable"
