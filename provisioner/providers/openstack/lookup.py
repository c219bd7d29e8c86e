"""Finding images, flavors and networks by name, and saying which names come close when one is missing."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any

from provisioner.errors import ConfigError

if TYPE_CHECKING:
    from openstack.connection import Connection


def close_matches(wanted: str, names: Collection[str]) -> str:
    """``; close matches: a, b`` or ``; available: ...`` (never empty-handed)."""
    names = sorted({n for n in names if n})
    close = difflib.get_close_matches(wanted, names, n=5, cutoff=0.4)
    if not close:
        close = [n for n in names if wanted.lower() in n.lower()][:5]
    if close:
        return "close matches: " + ", ".join(close)
    if names:
        shown = ", ".join(names[:15]) + (", ..." if len(names) > 15 else "")
        return "available: " + shown
    return "the cloud lists none"


def find(finder: Callable[..., Any], name: str) -> Any:
    """``finder(name)`` or None when the cloud has no such thing."""
    from openstack import exceptions as sdk

    try:
        return finder(name, ignore_missing=False)
    except sdk.NotFoundException:
        return None


def find_named(
    finder: Callable[..., Any], name: str, what: str, listing: Callable[[], Iterable[Any]], option: str
) -> Any:
    """``finder(name)``; when the cloud has no such thing, a ConfigError naming the closest names of
    ``listing()`` and the option to pass."""
    found = find(finder, name)
    if found is None:
        names = [item.name for item in listing()]
        raise ConfigError(f"{what} {name!r} not found; {close_matches(name, names)}", f"pass {option} NAME")
    return found


def find_network(conn: Connection, name: str | None) -> Any:
    """The network called ``name``, else the project's only network for servers."""
    if name:
        return find_named(conn.network.find_network, name, "network", conn.network.networks, "--network")
    candidates = [n for n in conn.network.networks() if not n.is_router_external]
    own = [n for n in candidates if n.project_id == conn.current_project_id]
    if len(candidates) == 1 or len(own) == 1:
        return candidates[0] if len(candidates) == 1 else own[0]
    if not candidates:
        raise ConfigError("the project has no network for the servers", "create one or pass --network NAME")
    names = ", ".join(sorted(n.name for n in candidates))
    raise ConfigError(f"several networks could hold the servers: {names}", "choose one with --network NAME")
