"""Worker node names and the hosts read back from them (mlapp.nodes), and the worker launcher's command
line (python -m mlapp.worker)."""

from __future__ import annotations

import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlapp.config import Config
from mlapp.nodes import group_by_host, host_of, node_name
from mlapp.worker.__main__ import worker_argv


def test_node_name_is_machine_host_at_hostname():
    assert node_name("mlstack-worker-1", "3f2a9c1b7d10") == "mlstack-worker-1@3f2a9c1b7d10"
    assert node_name("local") == f"local@{socket.gethostname()}"


@pytest.mark.parametrize(
    ("node", "host"),
    [
        ("mlstack-worker-1@3f2a9c1b7d10", "mlstack-worker-1"),
        ("prodserver@abc", "prodserver"),
        ("local@abc.example.org", "local"),
        ("session@mlapp-test", "session"),
        ("a@b@c", "a"),  # Celery splits at the first "@" too
        ("celery@3f2a9c1b7d10", "3f2a9c1b7d10"),  # Celery's default name: the hostname says where
        ("@box", "box"),
        ("lonely", "lonely"),
        ("celery@", "celery"),
    ],
)
def test_host_of(node, host):
    assert host_of(node) == host


machine = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True).filter(lambda s: s != "celery")
hostname = st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True)


@given(machine=machine, hostname=hostname)
def test_host_of_reads_back_node_name(machine, hostname):
    assert host_of(node_name(machine, hostname)) == machine


def test_group_by_host_sorts_hosts_and_nodes_and_drops_duplicates():
    nodes = ["w-2@b", "prodserver@z", "w-1@c", "prodserver@a", "w-1@c", "celery@x"]
    assert group_by_host(nodes) == {
        "prodserver": ["prodserver@a", "prodserver@z"],
        "w-1": ["w-1@c"],
        "w-2": ["w-2@b"],
        "x": ["celery@x"],
    }
    assert list(group_by_host(nodes)) == ["prodserver", "w-1", "w-2", "x"]
    assert group_by_host([]) == {}


def test_launcher_names_the_node_after_machine_host():
    config = Config.from_env({"MACHINE_HOST": "mlstack-worker-1"})
    argv = worker_argv(config, ["--loglevel", "INFO"], hostname="3f2a9c1b7d10")
    assert argv == [
        *("--app", "mlapp.worker.main", "worker"),
        *("--hostname", "mlstack-worker-1@3f2a9c1b7d10"),
        *("--loglevel", "INFO"),
    ]


def test_launcher_default_machine_host_is_local():
    argv = worker_argv(Config.from_env({}), [])
    assert argv[argv.index("--hostname") + 1] == f"local@{socket.gethostname()}"


@pytest.mark.parametrize("option", [["-n", "x@y"], ["--hostname", "x@y"], ["--hostname=x@y"], ["-nx@y"]])
def test_an_explicit_node_name_wins(option):
    argv = worker_argv(Config.from_env({"MACHINE_HOST": "h"}), option)
    assert argv == ["--app", "mlapp.worker.main", "worker", *option]
