"""gunicorn settings for the web container: `gunicorn -c gunicorn.conf.py` (the app is named below).

Threaded workers (gthread): a request waiting for a Celery worker (at most PREDICT_TIMEOUT seconds) holds
one thread, not a process, and each process keeps threads that never wait for a Celery worker
(mlapp.sizing.RESERVED_THREADS), so /livez and /healthz answer while predictions wait. CPUs come from
the container's CPU limit (cgroup), not the host's count. No preload: each process opens its own broker
connection. Environment: GUNICORN_BIND [0.0.0.0:5100], WEB_WORKERS [2 x CPUs + 1, at most 8], WEB_THREADS
[8], PREDICT_TIMEOUT.
"""

import os

from mlapp.sizing import available_cpus, web_threads, web_workers

wsgi_app = "mlapp.web:create_app()"
bind = [os.environ.get("GUNICORN_BIND", "0.0.0.0:5100")]
workers = web_workers(os.environ, available_cpus())
worker_class = "gthread"
threads = web_threads(os.environ)
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
