"""The app's settings, read once from the environment into a frozen record.

Variables (all optional; defaults in brackets):
  CELERY_BROKER_URL        full broker URL; when unset it is built from the RABBITMQ_* variables
  RABBITMQ_HOST [localhost], RABBITMQ_PORT [5672], RABBITMQ_USER [guest], RABBITMQ_PASSWORD [guest],
  RABBITMQ_VHOST [/]       the broker, when CELERY_BROKER_URL is unset (user/password are URL-encoded)
  RABBITMQ_PASSWORD_FILE   a file holding the broker password (compose secrets: /run/secrets/...); wins
                           over RABBITMQ_PASSWORD, which is kept for development only
  CELERY_RESULT_BACKEND    [rpc://] results travel back over RabbitMQ, no extra service
  FLASK_SECRET_KEY         Flask's secret key [a random one per process]
  FLASK_SECRET_KEY_FILE    a file holding Flask's secret key; wins over FLASK_SECRET_KEY (development only)
  PREDICT_TIMEOUT          seconds a request waits for a worker before answering 503 [10]
  HEALTH_TIMEOUT           seconds /healthz waits for the broker and for worker pings [2]
  PREDICT_MAX_ROWS         rows accepted by one POST /api/predict [1000]
  MAX_CONTENT_LENGTH       bytes accepted in one request body, larger -> 413 [524288]
  SAMPLE_ROWS              rows shown in the /predictions table [20]
  MODEL_DIR                worker: directory holding model.keras and metadata.json [/srv/model]
  DATA_FILE                worker: the data set CSV evaluated by /predictions [/srv/data/dataset.csv]
  WORKER_CONCURRENCY       worker: processes per worker container [1]
  MACHINE_HOST             the machine this container runs on (prodserver, mlstack-worker-1, ...) [local]:
                           the worker's node name is MACHINE_HOST@<hostname> (mlapp.nodes) and task
                           results name it as "host"; no "@" and no whitespace
Test hooks (a task delay, the benchmark's reload-per-task task) are not settings of the app: they live in
tests/integration/app/mlapp_testhooks, which no image contains.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mlapp.features import DEFAULT_MAX_ROWS

MODEL_FILENAME = "model.keras"
METADATA_FILENAME = "metadata.json"
MAX_SAMPLE_ROWS = 200  # rows of the /predictions table at most


class ConfigError(ValueError):
    """An environment variable holds a value the app cannot use."""


@dataclass(frozen=True)
class Config:
    broker_url: str = "amqp://guest:guest@localhost:5672//"
    result_backend: str = "rpc://"
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    predict_timeout: float = 10.0
    health_timeout: float = 2.0
    max_rows: int = DEFAULT_MAX_ROWS
    max_content_length: int = 512 * 1024
    sample_rows: int = 20
    model_dir: Path = Path("/srv/model")
    data_file: Path = Path("/srv/data/dataset.csv")
    worker_concurrency: int = 1
    machine_host: str = "local"

    @property
    def model_path(self) -> Path:
        return self.model_dir / MODEL_FILENAME

    @property
    def metadata_path(self) -> Path:
        return self.model_dir / METADATA_FILENAME

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            broker_url=env.get("CELERY_BROKER_URL") or broker_url_from(env),
            result_backend=env.get("CELERY_RESULT_BACKEND") or defaults.result_backend,
            secret_key=secret_from(env, "FLASK_SECRET_KEY") or defaults.secret_key,
            predict_timeout=_positive(env, "PREDICT_TIMEOUT", float, defaults.predict_timeout),
            health_timeout=_positive(env, "HEALTH_TIMEOUT", float, defaults.health_timeout),
            max_rows=_positive(env, "PREDICT_MAX_ROWS", int, defaults.max_rows),
            max_content_length=_positive(env, "MAX_CONTENT_LENGTH", int, defaults.max_content_length),
            sample_rows=_positive(env, "SAMPLE_ROWS", int, defaults.sample_rows),
            model_dir=Path(env.get("MODEL_DIR") or defaults.model_dir),
            data_file=Path(env.get("DATA_FILE") or defaults.data_file),
            worker_concurrency=_positive(env, "WORKER_CONCURRENCY", int, defaults.worker_concurrency),
            machine_host=_machine_host(env, defaults.machine_host),
        )


def broker_url_from(env: Mapping[str, str]) -> str:
    """An amqp:// URL from RABBITMQ_HOST/PORT/USER/PASSWORD/VHOST, credentials URL-encoded."""
    host = env.get("RABBITMQ_HOST") or "localhost"
    port = _positive(env, "RABBITMQ_PORT", int, 5672)
    user = quote(env.get("RABBITMQ_USER") or "guest", safe="")
    password = quote(secret_from(env, "RABBITMQ_PASSWORD") or "guest", safe="")
    vhost = quote(env.get("RABBITMQ_VHOST") or "/", safe="")
    return f"amqp://{user}:{password}@{host}:{port}/{vhost}"


def secret_from(env: Mapping[str, str], name: str) -> str:
    """A secret: the content of the file NAME_FILE names (one trailing newline dropped), else NAME's value.

    Production passes secrets as files (compose secrets, mounted at /run/secrets/<name>) so that they
    never appear in the container's environment (`docker inspect`); the plain variable is for development."""
    path = env.get(f"{name}_FILE")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={path!r} cannot be read: {exc.strerror or exc}") from None
        value = value.removesuffix("\n").removesuffix("\r")
        if not value:
            raise ConfigError(f"{name}_FILE={path!r} is empty")
        return value
    return env.get(name) or ""


def _machine_host(env: Mapping[str, str], default: str) -> str:
    raw = env.get("MACHINE_HOST")
    if raw is None or raw == "":
        return default
    if "@" in raw or any(c.isspace() for c in raw):
        raise ConfigError(f"MACHINE_HOST={raw!r} must be a machine name, without '@' or whitespace")
    return raw


def _positive(env: Mapping[str, str], name: str, kind: type[int] | type[float], default: float) -> Any:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        expected = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name}={raw!r} is not {expected}") from None
    if not value > 0:
        raise ConfigError(f"{name}={raw!r} must be greater than 0")
    return value
