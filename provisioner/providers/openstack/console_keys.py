"""The servers' console logs (Nova's ``os-getConsoleOutput``), where cloud-init printed their SSH host
keys: provisioner/hostkeys.py reads and pins them before the first SSH connection. A cloud that gives no
console log (403/404/501: policy, or a hypervisor without one) makes the keys Unreadable."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from provisioner import hostkeys
from provisioner.machine import Machine
from provisioner.settings import Settings

if TYPE_CHECKING:
    from openstack.connection import Connection

NO_CONSOLE = frozenset({400, 403, 404, 405, 409, 501})


def console_text(conn: Connection, server: Any) -> str:
    """The server's whole console log; Unreadable when the cloud does not give it."""
    from openstack import exceptions as sdk

    try:
        answer = conn.compute.get_server_console_output(server)
    except sdk.HttpException as exc:
        if exc.status_code in NO_CONSOLE:
            raise hostkeys.Unreadable(f"the cloud gives no console log (HTTP {exc.status_code})") from None
        raise
    return str((answer or {}).get("output") or "")


def pin_machines(
    conn: Connection,
    settings: Settings,
    machines: list[Machine],
    servers: dict[str, Any],
    created: set[str],
    out: Callable[[str], None],
    poll: float,
) -> list[Machine]:
    """hostkeys.pin_machines on the servers' console logs (``servers``: name -> server); a console that
    stops changing without cloud-init output is given up after four polls."""
    return hostkeys.pin_machines(
        settings, machines, created, lambda name: console_text(conn, servers[name]), out, poll, 4 * poll
    )
