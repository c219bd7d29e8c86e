"""GET /healthz (web + broker + at least one worker: 200, else 503) and GET /livez (web process only,
for the container's healthcheck)."""

from __future__ import annotations

from typing import Any

from celery import Celery
from flask import Blueprint, Response, jsonify

from mlapp.web.context import web_context

bp = Blueprint("health", __name__)


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
    return sorted(name for reply in replies for name in reply)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    ctx = web_context()
    timeout = ctx.config.health_timeout
    broker_ok, broker = broker_status(ctx.celery, timeout)
    workers = answering_workers(ctx.celery, min(1.0, timeout)) if broker_ok else []
    ok = broker_ok and bool(workers)
    body = {
        "status": "ok" if ok else "unavailable",
        "web": "ok",
        "broker": broker,
        "workers": workers,
    }
    if broker_ok and not workers:
        body["message"] = "no worker answered a ping: is the worker service running?"
    elif not broker_ok:
        body["message"] = "the message broker is not reachable"
    return jsonify(body), 200 if ok else 503


@bp.get("/livez")
def livez() -> tuple[Response, int]:
    return jsonify(status="ok"), 200
