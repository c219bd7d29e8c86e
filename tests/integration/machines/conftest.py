"""Local machines for the tests in this directory (see tests/machines_fixtures.py)."""

from tests.machines_fixtures import docker_engine, local_machines  # noqa: F401
