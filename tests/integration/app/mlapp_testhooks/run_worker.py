"""`python -m mlapp_testhooks.run_worker [celery worker options]`: as `python -m mlapp.worker` (node name
<MACHINE_HOST>@<hostname>), on the app with test hooks."""

from __future__ import annotations

import sys

from mlapp.config import Config
from mlapp.worker.__main__ import worker_argv

if __name__ == "__main__":
    from celery.__main__ import main as celery_main

    sys.argv = ["celery", *worker_argv(Config.from_env(), sys.argv[1:], app="mlapp_testhooks.worker")]
    celery_main()
