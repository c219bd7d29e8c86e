"""What the views share: the settings and the task dispatcher, stored on the Flask app."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from flask import current_app

from mlapp.config import Config
from mlapp.web.dispatch import Dispatcher

EXTENSION = "mlapp"


@dataclass(frozen=True)
class WebContext:
    config: Config
    celery: Celery
    dispatcher: Dispatcher


def web_context() -> WebContext:
    return current_app.extensions[EXTENSION]
