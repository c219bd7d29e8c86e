"""Fixtures of the app's integration tests: the real RabbitMQ (a vhost and user of our own), models trained
by the real CLI in this session, real Celery workers and the Flask app talking to them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from app_services import (
    REPO,
    Vhost,
    check_trained,
    copy_model,
    ensure_rabbitmq,
    make_config,
    start_worker,
    train,
)

from mlapp.web import create_app


@dataclass(frozen=True)
class TrainedModel:
    path: Path  # directory holding model.keras + metadata.json
    metadata: dict
    sha256: str


@pytest.fixture(scope="session")
def mlapp_repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def mlapp_artifacts() -> Path:
    path = REPO / "artifacts" / "app"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def mlapp_rabbitmq() -> None:
    ensure_rabbitmq()


@pytest.fixture(scope="session")
def mlapp_vhost(mlapp_rabbitmq) -> Iterator[Vhost]:
    """The session's vhost, served by the session worker."""
    vhost = Vhost().create()
    yield vhost
    vhost.delete()


@pytest.fixture
def mlapp_empty_vhost(mlapp_rabbitmq) -> Iterator[Vhost]:
    """A vhost of the test's own, with no worker unless the test starts one."""
    vhost = Vhost().create()
    yield vhost
    vhost.delete()


@pytest.fixture(scope="session")
def mlapp_models(tmp_path_factory) -> dict[str, TrainedModel]:
    """Two models trained by the real CLI, in parallel: "a" (seed 1, 12 epochs), "b" (seed 2, 3 epochs)."""
    import hashlib

    root = tmp_path_factory.mktemp("models")
    specs = {"a": (12, 1), "b": (3, 2)}
    procs = {key: train(root / key, epochs, seed, wait=False) for key, (epochs, seed) in specs.items()}
    for proc in procs.values():
        check_trained(proc)
    return {
        key: TrainedModel(
            path=root / key,
            metadata=json.loads((root / key / "metadata.json").read_text()),
            sha256=hashlib.sha256((root / key / "model.keras").read_bytes()).hexdigest(),
        )
        for key in specs
    }


SESSION_HOST = "it-session-host"


@pytest.fixture(scope="session")
def mlapp_session_host() -> str:
    """The MACHINE_HOST of the session worker."""
    return SESSION_HOST


@pytest.fixture(scope="session")
def mlapp_session_worker(mlapp_vhost, mlapp_models, tmp_path_factory, mlapp_artifacts) -> Iterator[str]:
    """One worker on the session vhost serving model "a" from a directory of its own, started as the
    worker image starts it (`python -m mlapp.worker`, MACHINE_HOST=it-session-host); yields its node."""
    model_dir = tmp_path_factory.mktemp("served")
    copy_model(mlapp_models["a"].path, model_dir)
    worker, node = start_worker(mlapp_vhost.url, model_dir, mlapp_artifacts, machine_host=SESSION_HOST)
    yield node
    worker.stop()


@pytest.fixture
def mlapp_client(mlapp_vhost, mlapp_session_worker):
    """The Flask test client of a web app whose broker is the session vhost (one worker serving "a")."""
    app = create_app(make_config(mlapp_vhost.url))
    yield app.test_client()
    app.extensions["mlapp"].celery.close()
