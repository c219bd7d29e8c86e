"""The web front: a Flask app factory served by gunicorn (see app/gunicorn.conf.py).

    gunicorn -c gunicorn.conf.py 'mlapp.web:create_app()'

It validates requests, sends tasks to the workers by name through RabbitMQ and renders the answers; it
never imports TensorFlow.
"""

from __future__ import annotations

import os

from flask import Flask

from mlapp.celery_app import make_celery
from mlapp.config import Config
from mlapp.sizing import max_waiting
from mlapp.web import api, health, pages
from mlapp.web.context import EXTENSION, WebContext
from mlapp.web.dispatch import Dispatcher, TaskDispatcher
from mlapp.web.errors import register_error_handlers
from mlapp.web.health import PING_SECONDS, ProbeCache


def create_app(config: Config | None = None, dispatcher: TaskDispatcher | None = None) -> Flask:
    """The Flask app; settings come from the environment unless a Config is given. `dispatcher` replaces
    the Celery dispatcher (unit tests pass an in-process fake; nothing in the image does)."""
    config = config or Config.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=config.secret_key,
        MAX_CONTENT_LENGTH=config.max_content_length,
    )
    app.json.sort_keys = False
    celery = make_celery(config, name="mlapp.web", fail_fast=True)
    if dispatcher is None:
        waiting = max_waiting(os.environ)
        dispatcher = Dispatcher(celery=celery, timeout=config.predict_timeout, max_waiting=waiting)
    ping = min(PING_SECONDS, config.health_timeout)
    app.extensions[EXTENSION] = WebContext(
        config=config,
        celery=celery,
        dispatcher=dispatcher,
        probes=ProbeCache(
            lambda: health.probe(celery, config.health_timeout),
            ttl=health.CACHE_SECONDS,
            deadline=config.health_timeout + ping,
        ),
    )
    app.register_blueprint(pages.bp)
    api.register(app)
    app.register_blueprint(health.bp)
    register_error_handlers(app)
    return app
