"""gunicorn settings for the web container: `gunicorn -c gunicorn.conf.py` (the app is named below).

Sync workers: each request holds a worker while it waits (at most PREDICT_TIMEOUT seconds) for a Celery
worker, so there are several. No preload: each gunicorn worker opens its own broker connection.
Environment: GUNICORN_BIND [0.0.0.0:5100], WEB_WORKERS [2 x CPUs + 1, at most 8], PREDICT_TIMEOUT.
"""

import multiprocessing
import os

wsgi_app = "mlapp.web:create_app()"
bind = [os.environ.get("GUNICORN_BIND", "0.0.0.0:5100")]
workers = int(os.environ.get("WEB_WORKERS") or min(2 * multiprocessing.cpu_count() + 1, 8))
worker_class = "sync"
# A request never waits longer than PREDICT_TIMEOUT for a worker; gunicorn's own limit sits above it.
timeout = int(float(os.environ.get("PREDICT_TIMEOUT") or 10)) + 30
graceful_timeout = 20
keepalive = 5
preload_app = False
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
