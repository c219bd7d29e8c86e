"""GET /healthz (web + broker + at least one worker: 200 {"status": "ok"}, else 503 {"status":
"unavailable"} with Retry-After; status only, for anyone) and GET /livez (the web process only, for the
container's healthcheck). The details (broker, workers by host) are on /status, which shares the probe.

The probe is bounded and cached (ProbeCache): at most one probe runs per web process at a time, every
caller waits for it at most a hard deadline, and its answer serves every caller for CACHE_SECONDS, so
/healthz and /status cost a lookup instead of holding a web thread for the worker ping on every call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from flask import Blueprint, Response, jsonify

from mlapp.nodes import group_by_host
from mlapp.web.context import web_context
from mlapp.web.dispatch import RETRY_AFTER

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)

PING_SECONDS = 0.5  # workers answering a ping later than this count as not answering
CACHE_SECONDS = 2.0  # a probe's answer serves every caller of this process for this long


@dataclass(frozen=True)
class Probe:
    """What the web sees of the cluster: the broker and the workers that answered a ping."""

    broker_ok: bool
    broker: str  # "ok" or "unreachable" (the reason goes to the log only)
    workers: list[str] = field(default_factory=list)  # node names, sorted
    ping_timeout: float = PING_SECONDS

    @property
    def ok(self) -> bool:
        return self.broker_ok and bool(self.workers)

    @property
    def hosts(self) -> dict[str, list[str]]:
        """{host: [node names]}, the host read from each node name (mlapp.nodes.host_of)."""
        return group_by_host(self.workers)

    @property
    def message(self) -> str | None:
        if not self.broker_ok:
            return "the message broker is not reachable"
        if not self.workers:
            return "no worker answered a ping: is the worker service running?"
        return None

    def details(self) -> dict[str, Any]:
        """The JSON of /status."""
        body: dict[str, Any] = {
            "status": "ok" if self.ok else "unavailable",
            "web": "ok",
            "broker": self.broker,
            "workers": self.workers,
            "hosts": self.hosts,
        }
        if self.message:
            body["message"] = self.message
        return body


def broker_status(celery: Celery, timeout: float) -> tuple[bool, str]:
    try:
        with celery.connection_for_write(connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:
        log.warning("health probe: the broker is unreachable: %s", exc)
        return False, "unreachable"
    return True, "ok"


def answering_workers(celery: Celery, timeout: float) -> list[str]:
    try:
        replies: list[dict[str, Any]] = celery.control.ping(timeout=timeout) or []
    except Exception as exc:
        log.warning("health probe: the worker ping failed: %s", exc)
        return []
    return sorted({name for reply in replies for name in reply})


def probe(celery: Celery, timeout: float) -> Probe:
    """Check the broker, then (when it answers) ping every worker for min(PING_SECONDS, timeout)."""
    broker_ok, broker = broker_status(celery, timeout)
    ping_timeout = min(PING_SECONDS, timeout)
    workers = answering_workers(celery, ping_timeout) if broker_ok else []
    return Probe(broker_ok=broker_ok, broker=broker, workers=workers, ping_timeout=ping_timeout)


class ProbeCache:
    """Single-flight, cached and bounded: get() returns a probe at most `ttl` seconds old; when a new one
    is needed, one background thread runs it and callers wait at most `deadline` seconds for it. A probe
    still running at the deadline counts as "broker unreachable" for those callers (it keeps running, and
    its answer is cached when it comes)."""

    def __init__(
        self,
        run: Callable[[], Probe],
        ttl: float,
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run, self.ttl, self.deadline, self._clock = run, ttl, deadline, clock
        self._lock = threading.Lock()
        self._cached: tuple[float, Probe] | None = None
        self._running: threading.Event | None = None

    def get(self) -> Probe:
        with self._lock:
            if self._cached is not None and self._clock() - self._cached[0] < self.ttl:
                return self._cached[1]
            done = self._running
            if done is None:
                done = self._running = threading.Event()
                threading.Thread(target=self._refresh, args=(done,), name="health-probe", daemon=True).start()
        if done.wait(self.deadline):
            with self._lock:
                if self._cached is not None:
                    return self._cached[1]
        log.warning("health probe: no answer within %g s", self.deadline)
        return Probe(broker_ok=False, broker="unreachable")

    def _refresh(self, done: threading.Event) -> None:
        try:
            result = self._run()
        except Exception:
            log.exception("health probe failed")
            result = Probe(broker_ok=False, broker="unreachable")
        with self._lock:
            self._cached = (self._clock(), result)
            self._running = None
        done.set()


def current_probe() -> Probe:
    return web_context().probes.get()


@bp.get("/healthz")
def healthz() -> tuple[Response, int] | tuple[Response, int, dict[str, str]]:
    state = current_probe()
    if state.ok:
        return jsonify(status="ok"), 200
    return jsonify(status="unavailable"), 503, {"Retry-After": str(RETRY_AFTER)}


@bp.get("/livez")
def livez() -> tuple[Response, int]:
    return jsonify(status="ok"), 200
