"""Floating IPs: matched to a server by its ports (never by fixed address: two networks may share a
CIDR), reused only when this deployment recorded them, and allocated from the external network that
the router of the server's subnet reaches.

A free floating IP that this deployment did not record may be a colleague's reserved address: it is never
taken. ``--floating-network`` names the external network when the router does not tell (no router, or
several external networks and no router to choose by).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from provisioner.errors import ConfigError, ProviderError
from provisioner.providers.openstack.lookup import find_named
from provisioner.settings import Settings
from provisioner.state import StateFile

if TYPE_CHECKING:
    from openstack.connection import Connection

Out = Callable[[str], None]
SECTION = "floating_ips"


def server_ports(conn: Connection, server: Any) -> list[Any]:
    """The Neutron ports of ``server``."""
    return list(conn.network.ports(device_id=server.id))


def attached(fips: Iterable[Any], ports: Iterable[Any]) -> Any | None:
    """The floating IP bound to one of ``ports``, or None."""
    port_ids = {port.id for port in ports}
    return next((fip for fip in fips if fip.port_id and fip.port_id in port_ids), None)


def port_subnets(ports: Iterable[Any]) -> set[str]:
    """The subnet ids of ``ports``."""
    return {str(ip.get("subnet_id")) for port in ports for ip in (port.fixed_ips or [])}


def routed_external_networks(conn: Connection, subnets: set[str]) -> set[str]:
    """The ids of the external networks that the routers of these subnets have as gateway."""
    found: set[str] = set()
    for router in conn.network.routers():
        gateway = (router.external_gateway_info or {}).get("network_id")
        if not gateway:
            continue
        for interface in conn.network.ports(device_id=router.id):
            if {ip.get("subnet_id") for ip in (interface.fixed_ips or [])} & subnets:
                found.add(gateway)
    return found


def external_network(conn: Connection, settings: Settings, subnets: set[str]) -> Any:
    """``--floating-network`` when given; else the external network the server's router reaches; else
    the only external network; otherwise a ConfigError asking for ``--floating-network``."""
    external = list(conn.network.networks(is_router_external=True))
    if settings.floating_network:
        return find_named(
            conn.network.find_network,
            settings.floating_network,
            "floating network",
            lambda: external,
            "--floating-network",
        )
    if not external:
        raise ProviderError(
            "no external network to take a floating IP from",
            "pass --floating-network NAME, or use a --network whose addresses are public",
        )
    routed = routed_external_networks(conn, subnets)
    candidates = [n for n in external if n.id in routed] or (external if len(external) == 1 else [])
    if len(candidates) == 1:
        return candidates[0]
    names = ", ".join(sorted(n.name or n.id for n in (candidates or external)))
    why = "several routers reach" if candidates else "no router of the server's subnet reaches one of"
    raise ConfigError(
        f"cannot tell which external network to take a floating IP from ({why}: {names})",
        "pass --floating-network NAME",
    )


def ensure(
    conn: Connection,
    settings: Settings,
    state: StateFile,
    role: str,
    server: Any,
    fips: list[Any],
    out: Out,
    network: Any = None,
) -> str:
    """The floating IP address of ``server``: the one on its port, else a free one this deployment
    recorded, else a new one (recorded at once)."""
    ports = server_ports(conn, server)
    bound = attached(fips, ports)
    if bound is not None:
        return str(bound.floating_ip_address)
    if not ports:
        raise ProviderError(f"server {server.name} has no port to attach a floating IP to")
    port = ports[0]
    recorded = state.section(SECTION)
    mine = [f for f in fips if f.id in recorded and not f.port_id]
    if mine:
        fip = mine[0]
        conn.network.update_ip(fip, port_id=port.id)
        fips.remove(fip)
        out(f"  {role:<11} floating IP {fip.floating_ip_address}: reused (recorded by this deployment)")
        return str(fip.floating_ip_address)
    network = network or external_network(conn, settings, port_subnets(ports))
    fip = conn.network.create_ip(
        floating_network_id=network.id,
        port_id=port.id,
        description=f"mlstack {settings.server_name(role)} (deployment {state.data.get('deployment')})",
    )
    state.record(SECTION, fip.id, fip.floating_ip_address)
    out(f"  {role:<11} floating IP {fip.floating_ip_address}: allocated from {network.name}")
    return str(fip.floating_ip_address)
