"""Variables the configuration needs from the servers' network: a tenant network with an MTU below 1500
(VXLAN/GRE: 1450) gets Docker Engine's daemon ``mtu`` set to it, in ``docker_daemon_network_options``,
which the docker role merges between its own base options (live-restore) and the user's
``docker_daemon_options`` (the user's ``mtu``, if any, wins)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from provisioner.machine import Machine

ETHERNET_MTU = 1500


def docker_mtu_vars(machines: Iterable[Machine]) -> dict[str, Any]:
    """``{"docker_daemon_network_options": {"mtu": N}}`` for the smallest network MTU below 1500 that the
    provider reported (``Machine.extra["mtu"]``); ``{}`` otherwise."""
    mtus = [int(m.extra["mtu"]) for m in machines if str(m.extra.get("mtu", "")).isdigit()]
    if not mtus or min(mtus) >= ETHERNET_MTU:
        return {}
    return {"docker_daemon_network_options": {"mtu": min(mtus)}}
