"""The HTML pages: /, /predictions (accuracy, true vs predicted table, chart), /accuracy and /status (the
live workers grouped by host, and the broker)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from mlapp.celery_app import EVALUATE_TASK
from mlapp.config import MAX_SAMPLE_ROWS
from mlapp.features import FEATURES
from mlapp.web.chart import outcome_chart
from mlapp.web.context import web_context
from mlapp.web.health import current_probe

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    config = web_context().config
    return render_template("index.html", features=FEATURES, max_rows=config.max_rows)


@bp.get("/predictions")
def predictions() -> str:
    ctx = web_context()
    rows = request.args.get("rows", type=int) or ctx.config.sample_rows
    rows = max(1, min(rows, MAX_SAMPLE_ROWS))
    result: dict[str, Any] = ctx.dispatcher.call(EVALUATE_TASK, rows)
    return render_template(
        "predictions.html",
        result=result,
        features=FEATURES,
        chart=outcome_chart(result["data_set"]["confusion"]).svg(),
    )


@bp.get("/accuracy")
def accuracy() -> str:
    result: dict[str, Any] = web_context().dispatcher.call(EVALUATE_TASK, 0)
    return render_template("accuracy.html", result=result)


@bp.get("/status")
def status() -> str | Response:
    """Always 200 (the page itself works): HTML for browsers, the same as JSON for clients that prefer it
    (the details /healthz does not give). No secret: no broker URL, credentials or error text."""
    ctx = web_context()
    state = current_probe()
    accept = request.accept_mimetypes
    if accept["application/json"] > accept["text/html"]:  # a page for browsers, */* and no Accept
        return jsonify(state.details())
    return render_template("status.html", state=state, web_host=ctx.config.machine_host)
