"""The JSON API, version 1: under /api/v1 and, for the clients of before, the same handlers under /api.

POST /api/predict takes one row or a list of rows of the 8 features (see mlapp.features for the accepted
shapes and limits) and answers {"count", "predictions": [{"outcome", "probability"}], "model", "worker",
"host"}: "worker" is the Celery node that answered, "host" the machine it runs on (its MACHINE_HOST).
A POST body that is not declared JSON (Content-Type application/json or application/*+json) -> 415,
bad input -> 400, a body over MAX_CONTENT_LENGTH -> 413, no worker/broker/model within PREDICT_TIMEOUT ->
503 with Retry-After, a task that failed on the worker -> 502; a wrong method -> 405 with Allow.

GET /api/accuracy answers {"accuracy" (the hold-out accuracy recorded at training, or null), "holdout"
(the hold-out metrics of metadata.json), "train_accuracy", "data_set" (accuracy, rows, correct and
confusion matrix on the whole data set file, training rows included), "data_sha256", "model", "worker",
"host"}.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request, url_for
from werkzeug.exceptions import UnsupportedMediaType

from mlapp.celery_app import EVALUATE_TASK, PREDICT_TASK
from mlapp.features import FEATURES, MAX_FEATURE_VALUE, parse_json, parse_rows
from mlapp.web.context import web_context

VERSION = "v1"
bp = Blueprint("api", __name__)


def register(app: Flask) -> None:
    """The same handlers under /api/v1 (endpoints "api_v1.*") and /api (endpoints "api.*")."""
    app.register_blueprint(bp, url_prefix=f"/api/{VERSION}", name=f"api_{VERSION}")
    app.register_blueprint(bp, url_prefix="/api", name="api")


@bp.before_request
def require_json_body() -> None:
    if request.method == "POST" and not request.is_json:
        raise UnsupportedMediaType(
            f"send the body as JSON with Content-Type: application/json (got {request.mimetype or 'none'!r})"
        )


@bp.get("")
@bp.get("/")
def index() -> Response:
    config = web_context().config
    here = request.blueprint or "api"
    return jsonify(
        version=VERSION,
        endpoints={
            "predict": url_for(f"{here}.predict"),
            "accuracy": url_for(f"{here}.accuracy"),
            "health": url_for("health.healthz"),
        },
        features=list(FEATURES),
        limits={
            "max_rows": config.max_rows,
            "max_content_length": config.max_content_length,
            "min_value": 0,
            "max_value": MAX_FEATURE_VALUE,
        },
        timeout_seconds=config.predict_timeout,
    )


@bp.post("/predict")
def predict() -> Response:
    ctx = web_context()
    rows = parse_rows(parse_json(request.get_data(cache=False)), ctx.config.max_rows)
    result: dict[str, Any] = ctx.dispatcher.call(PREDICT_TASK, rows)
    return jsonify(
        count=len(result["predictions"]),
        predictions=result["predictions"],
        model=result.get("model"),
        worker=result.get("worker"),
        host=result.get("host"),
    )


@bp.get("/accuracy")
def accuracy() -> Response:
    result: dict[str, Any] = web_context().dispatcher.call(EVALUATE_TASK, 0)
    result.pop("sample", None)
    return jsonify(result)
