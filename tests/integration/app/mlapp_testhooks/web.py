"""The production web app with the API's predictions sent to the task named by PREDICT_TASK (the
benchmark points it at "model.predict_reload_each_time"):

    gunicorn --config app/gunicorn.conf.py 'mlapp_testhooks.web:create_app()'
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from flask import Flask

from mlapp import celery_app
from mlapp.web import create_app as create_production_app
from mlapp.web.context import EXTENSION
from mlapp.web.dispatch import TaskDispatcher


@dataclasses.dataclass
class Renamed:
    """A dispatcher that sends one task under another name."""

    inner: TaskDispatcher
    names: dict[str, str]

    def call(self, task: str, *args: Any, timeout: float | None = None) -> Any:
        return self.inner.call(self.names.get(task, task), *args, timeout=timeout)


def create_app() -> Flask:
    app = create_production_app()
    target = os.environ.get("PREDICT_TASK")
    if target:
        ctx = app.extensions[EXTENSION]
        renamed = Renamed(ctx.dispatcher, {celery_app.PREDICT_TASK: target})
        app.extensions[EXTENSION] = dataclasses.replace(ctx, dispatcher=renamed)
    return app
