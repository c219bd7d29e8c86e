"""Error answers: JSON under /api (and for /healthz), HTML pages elsewhere. Nothing leaks a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from mlapp.features import ValidationError
from mlapp.web.dispatch import WorkerFailed, WorkerUnavailable

log = logging.getLogger(__name__)


def wants_json() -> bool:
    path = request.path
    return path == "/api" or path.startswith("/api/") or path in {"/healthz", "/livez"}


def _answer(status: int, error: str, message: str, **extra: object) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify(error=error, message=message, **extra), status
    return render_template("error.html", status=status, error=error, message=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ValidationError)
    def invalid_input(exc: ValidationError) -> tuple[Response | str, int]:
        return _answer(400, "invalid_input", exc.message, **exc.details)

    @app.errorhandler(WorkerUnavailable)
    def unavailable(exc: WorkerUnavailable) -> tuple[Response | str, int]:
        return _answer(503, f"unavailable_{exc.reason}", exc.message)

    @app.errorhandler(WorkerFailed)
    def worker_failed(exc: WorkerFailed) -> tuple[Response | str, int]:
        return _answer(502, "worker_error", f"the worker failed: {exc.error_type}: {exc.message}")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response | str, int] | HTTPException:
        status = exc.code or 500
        if not wants_json():
            return exc
        error = (exc.name or "error").lower().replace(" ", "_")
        message = exc.description or exc.name
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"the request body is larger than the limit of {limit} bytes"
        return _answer(status, error, message)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> tuple[Response | str, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _answer(500, "internal_error", "an unexpected error occurred; see the web service's log")
