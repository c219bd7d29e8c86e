"""What the views share: the settings, the task dispatcher and the health probe, stored on the Flask app."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery
from flask import current_app

from mlapp.config import Config
from mlapp.web.dispatch import TaskDispatcher

EXTENSION = "mlapp"


@dataclass(frozen=True)
class WebContext:
    config: Config
    celery: Celery
    dispatcher: TaskDispatcher
    probes: ProbeCache


def web_context() -> WebContext:
    return current_app.extensions[EXTENSION]


from mlapp.web.health import ProbeCache  # noqa: E402  (health imports web_context from here)
