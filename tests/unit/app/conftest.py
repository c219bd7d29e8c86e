"""Fixtures of the app's unit tests: a Flask test client whose broker is a closed local port, so requests
that pass validation end in a real 503 (no broker) instead of reaching a worker; and one whose dispatcher
is the in-process fake of fake_dispatcher.py, so requests can end in a 200."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fake_dispatcher import FakeDispatcher

from mlapp.config import Config
from mlapp.web import create_app

REPO = Path(__file__).resolve().parents[3]
DATA_CSV = REPO.parent / "shared" / "data" / "pima-indians-diabetes.csv"
DATA_SHA256 = "06f5b7c2cd7bca686fda4f92eab5f61e7ff6426a9acefa2e3dda04fc54293cf5"


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def mlapp_repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def mlapp_data_sha256() -> str:
    return DATA_SHA256


@pytest.fixture(scope="session")
def mlapp_data_csv() -> Path:
    if not DATA_CSV.is_file():
        pytest.fail(f"the data set is missing: {DATA_CSV}")
    return DATA_CSV


@pytest.fixture(scope="session")
def mlapp_offline_config() -> Config:
    return Config(
        broker_url=f"amqp://nobody:nothing@127.0.0.1:{closed_port()}//",
        predict_timeout=2.0,
        health_timeout=0.5,
        secret_key="unit-tests",
    )


@pytest.fixture(scope="session")
def mlapp_offline_app(mlapp_offline_config: Config):
    return create_app(mlapp_offline_config)


@pytest.fixture
def mlapp_client(mlapp_offline_app):
    return mlapp_offline_app.test_client()


@pytest.fixture
def mlapp_fake_dispatcher() -> FakeDispatcher:
    return FakeDispatcher()


@pytest.fixture
def mlapp_fake_client(mlapp_offline_config: Config, mlapp_fake_dispatcher: FakeDispatcher):
    """A test client of the web app whose tasks are answered by mlapp_fake_dispatcher."""
    return create_app(mlapp_offline_config, dispatcher=mlapp_fake_dispatcher).test_client()
