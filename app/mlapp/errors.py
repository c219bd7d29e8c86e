"""Errors a worker raises to say "cannot serve right now" (503), shared by the worker and the web.

The worker raises them; Celery sends the exception's module and class name with the failed result, and
the web, which imports this module (pure Python, no TensorFlow), gets the same classes back: the web
tells them apart by class, never by a name matched as a string. Their messages may hold file paths: the
web logs them and answers a fixed public message (mlapp.web.dispatch).
"""

from __future__ import annotations


class ServiceUnavailable(Exception):
    """A worker cannot serve the task right now; `reason` names what is missing."""

    reason = "worker"


class ModelUnavailable(ServiceUnavailable):
    """There is no model file (yet), or it cannot be loaded."""

    reason = "model"


class DataUnavailable(ServiceUnavailable):
    """The data set file is missing or unreadable."""

    reason = "data"
