"""GET /healthz (web + broker + at least one worker: 200, else 503) and GET /livez (web process only,
for the container's healthcheck). probe() is shared with the /status page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from flask import Blueprint, Response, jsonify

from mlapp.nodes import group_by_host
from mlapp.web.context import web_context

bp = Blueprint("health", __name__)


@dataclass(frozen=True)
class Probe:
    """What the web sees of the cluster: the broker and the workers that answered a ping."""

    broker_ok: bool
    broker: str  # "ok" or "unreachable: <reason>"
    workers: list[str] = field(default_factory=list)  # node names, sorted
    ping_timeout: float = 1.0

    @property
    def ok(self) -> bool:
        return self.broker_ok and bool(self.workers)

    @property
    def hosts(self) -> dict[str, list[str]]:
        """{host: [node names]}, the host read from each node name (mlapp.nodes.host_of)."""
        return group_by_host(self.workers)


def broker_status(celery: Celery, timeout: float) -> tuple[bool, str]:
    try:
        with celery.connection_for_write(connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:
        return False, f"unreachable: {exc}"
    return True, "ok"


def answering_workers(celery: Celery, timeout: float) -> list[str]:
    try:
        replies: list[dict[str, Any]] = celery.control.ping(timeout=timeout) or []
    except Exception:
        return []
    return sorted({name for reply in replies for name in reply})


def probe(celery: Celery, timeout: float) -> Probe:
    """Check the broker, then (when it answers) ping every worker for at most min(1 s, timeout)."""
    broker_ok, broker = broker_status(celery, timeout)
    ping_timeout = min(1.0, timeout)
    workers = answering_workers(celery, ping_timeout) if broker_ok else []
    return Probe(broker_ok=broker_ok, broker=broker, workers=workers, ping_timeout=ping_timeout)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    ctx = web_context()
    state = probe(ctx.celery, ctx.config.health_timeout)
    body: dict[str, Any] = {
        "status": "ok" if state.ok else "unavailable",
        "web": "ok",
        "broker": state.broker,
        "workers": state.workers,
        "hosts": state.hosts,
    }
    if state.broker_ok and not state.workers:
        body["message"] = "no worker answered a ping: is the worker service running?"
    elif not state.broker_ok:
        body["message"] = "the message broker is not reachable"
    return jsonify(body), 200 if state.ok else 503


@bp.get("/livez")
def livez() -> tuple[Response, int]:
    return jsonify(status="ok"), 200
