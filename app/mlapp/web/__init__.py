"""The web front: a Flask app factory served by gunicorn (see app/gunicorn.conf.py).

    gunicorn -c gunicorn.conf.py 'mlapp.web:create_app()'

It validates requests, sends tasks to the workers by name through RabbitMQ and renders the answers; it
never imports TensorFlow.
"""

from __future__ import annotations

from flask import Flask

from mlapp.celery_app import make_celery
from mlapp.config import Config
from mlapp.web import api, health, pages
from mlapp.web.context import EXTENSION, WebContext
from mlapp.web.dispatch import Dispatcher
from mlapp.web.errors import register_error_handlers


def create_app(config: Config | None = None) -> Flask:
    """The Flask app; settings come from the environment unless a Config is given."""
    config = config or Config.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=config.secret_key,
        MAX_CONTENT_LENGTH=config.max_content_length,
    )
    app.json.sort_keys = False
    celery = make_celery(config, name="mlapp.web", fail_fast=True)
    app.extensions[EXTENSION] = WebContext(
        config=config,
        celery=celery,
        dispatcher=Dispatcher(celery=celery, timeout=config.predict_timeout),
    )
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    register_error_handlers(app)
    return app
