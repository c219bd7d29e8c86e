"""What the views share: the settings, the task dispatcher and the health probe, stored on the Flask app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from celery import Celery
from flask import current_app

from mlapp.config import Config
from mlapp.web.dispatch import TaskDispatcher

if TYPE_CHECKING:
    from mlapp.web.health import ProbeCache  # health imports web_context from here

EXTENSION = "mlapp"


@dataclass(frozen=True)
class WebContext:
    config: Config
    celery: Celery
    dispatcher: TaskDispatcher
    probes: ProbeCache


def web_context() -> WebContext:
    return current_app.extensions[EXTENSION]
