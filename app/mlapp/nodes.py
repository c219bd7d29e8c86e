"""Celery node names and the machines they run on (pure Python: the web and the worker both use it).

A worker's node name is `<MACHINE_HOST>@<hostname>`, e.g. `mlstack-worker-1@3f2a9c1b7d10`: the part
before "@" names the machine (prodserver, mlstack-worker-1, ...; MACHINE_HOST, default "local"), the part
after is the hostname of the worker's container, unique per container, so `--scale worker=N` keeps every
node name unique.

Reading a node name back (host_of): the part before "@"; but a node named by Celery's default
(`celery@<hostname>`, a worker started without `python -m mlapp.worker`) maps to its hostname, the only
thing that says where it runs, and a name without "@" maps to itself.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable

CELERY_DEFAULT_NAME = "celery"
SEPARATOR = "@"


def node_name(machine_host: str, hostname: str | None = None) -> str:
    """The node name of a worker on `machine_host`, in the container or machine called `hostname`
    (this process's hostname by default)."""
    return f"{machine_host}{SEPARATOR}{hostname or socket.gethostname()}"


def host_of(node: str) -> str:
    """The machine a worker's node name says it runs on (see the module's documentation)."""
    name, separator, hostname = node.partition(SEPARATOR)
    if not separator:
        return node
    if (not name or name == CELERY_DEFAULT_NAME) and hostname:
        return hostname
    return name or node


def group_by_host(nodes: Iterable[str]) -> dict[str, list[str]]:
    """{host: [node names]}, hosts and node names sorted."""
    hosts: dict[str, list[str]] = {}
    for node in sorted(set(nodes)):
        hosts.setdefault(host_of(node), []).append(node)
    return dict(sorted(hosts.items()))
