"""Error answers. Their format follows the client's Accept header, not the URL: JSON unless the client
prefers HTML (a browser), so API clients (curl's */*, no Accept at all) get JSON everywhere and browsers
get a page. A 503 carries Retry-After, a 405 Allow. Public messages never carry a path, an exception
text or a traceback: details go to the log, with the request id (X-Request-ID) when the client sent one.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from mlapp.features import ValidationError
from mlapp.web.dispatch import RETRY_AFTER, WorkerFailed, WorkerUnavailable

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"


def wants_html() -> bool:
    """True when the client ranks text/html above application/json (browsers do; API clients do not)."""
    accept = request.accept_mimetypes
    return accept["text/html"] > accept["application/json"]


def wants_json() -> bool:
    return not wants_html()


def request_id() -> str:
    """The client's request id, shortened and printable, or "-"."""
    raw = request.headers.get(REQUEST_ID_HEADER, "")
    return "".join(c for c in raw[:128] if c.isprintable() and not c.isspace()) or "-"


def _answer(status: int, error: str, message: str, headers: dict[str, str] | None = None, **extra: object):
    if wants_json():
        response = jsonify(error=error, message=message, **extra)
    else:
        response = Response(
            render_template("error.html", status=status, error=error, message=message), mimetype="text/html"
        )
    response.status_code = status
    response.headers.update(headers or {})
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ValidationError)
    def invalid_input(exc: ValidationError) -> Response:
        return _answer(400, "invalid_input", exc.message, **exc.details)

    @app.errorhandler(WorkerUnavailable)
    def unavailable(exc: WorkerUnavailable) -> Response:
        log.warning(
            "503 unavailable_%s on %s %s (request id %s): %s",
            *(exc.reason, request.method, request.path, request_id(), exc.detail or exc.message),
        )
        headers = {"Retry-After": str(exc.retry_after)}
        return _answer(503, f"unavailable_{exc.reason}", exc.message, headers)

    @app.errorhandler(WorkerFailed)
    def worker_failed(exc: WorkerFailed) -> Response:
        log.error(
            "502 worker_error on %s %s (request id %s): %s",
            *(request.method, request.path, request_id(), exc.detail),
        )
        return _answer(502, "worker_error", exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | HTTPException:
        status = exc.code or 500
        if not wants_json():
            return exc  # werkzeug's own page, with its headers (Allow on a 405)
        error = (exc.name or "error").lower().replace(" ", "_")
        message = exc.description or exc.name or "error"
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"the request body is larger than the limit of {limit} bytes"
        headers = {k: v for k, v in exc.get_headers() if k.lower() in ("allow", "retry-after")}
        if status == 503:
            headers.setdefault("Retry-After", str(RETRY_AFTER))
        return _answer(status, error, message, headers)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("500 on %s %s (request id %s)", request.method, request.path, request_id())
        return _answer(500, "internal_error", "an unexpected error occurred; see the web service's log")
