"""What the launcher's tests on the test bed share: the waiter's stand-in and the search for leftovers."""

from __future__ import annotations

import ipaddress

from provisioner.machine import Machine
from provisioner.settings import Settings

PUBLIC = ipaddress.ip_network("203.0.113.0/24")  # the routed external network's subnet


class Recorder:
    """Stands in for the SSH/cloud-init waiter: records what it was asked to wait for."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[Machine], set[str]]] = []

    def __call__(
        self, machines: list[Machine], settings: Settings, *, new: set[str], progress: object
    ) -> None:
        self.calls.append((list(machines), set(new)))


def leftovers(conn, prefix: str, server_ids: set[str], addresses: set[str]) -> list[str]:
    """Whatever of the prefix still exists, seen by openstacksdk as the project member."""
    found = [f"server {s.name}" for s in conn.compute.servers() if s.name.startswith(prefix)]
    found += [
        f"floating IP {ip.floating_ip_address}"
        for ip in conn.network.ips()
        if ip.floating_ip_address in addresses
    ]
    found += [f"port {p.id} of {p.device_id}" for p in conn.network.ports() if p.device_id in server_ids]
    found += [f"keypair {k.name}" for k in conn.compute.keypairs() if k.name.startswith(prefix)]
    found += [f"security group {g.name}" for g in conn.network.security_groups() if g.name.startswith(prefix)]
    return found
