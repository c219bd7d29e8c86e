"""Variables the configuration needs from the servers' network: a tenant network with an MTU below 1500
(VXLAN/GRE: 1450) gets Docker Engine's daemon ``mtu`` set to it, merged with the docker role's own
``docker_daemon_options`` so that its defaults (log rotation) stay."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from provisioner.machine import Machine
from provisioner.settings import REPO_ROOT

DOCKER_DEFAULTS = REPO_ROOT / "roles" / "docker" / "defaults" / "main.yml"
ETHERNET_MTU = 1500


def docker_mtu_vars(machines: Iterable[Machine], defaults_file: Path = DOCKER_DEFAULTS) -> dict[str, Any]:
    """``{"docker_daemon_options": {<role defaults>, "mtu": N}}`` for the smallest network MTU below 1500
    that the provider reported (``Machine.extra["mtu"]``); ``{}`` otherwise."""
    mtus = [int(m.extra["mtu"]) for m in machines if str(m.extra.get("mtu", "")).isdigit()]
    if not mtus or min(mtus) >= ETHERNET_MTU:
        return {}
    defaults = (yaml.safe_load(defaults_file.read_text(encoding="utf-8")) or {}).get("docker_daemon_options")
    return {"docker_daemon_options": {**(defaults or {}), "mtu": min(mtus)}}
