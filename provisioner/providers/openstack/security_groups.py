"""The security groups ``<prefix>-prodserver``, ``<prefix>-devserver`` and ``<prefix>-workers`` and their
rules, reconciled both ways: on the launcher's ports each group ends up with exactly the TCP ingress rules
it should have (a narrowed ``allowed_cidr`` takes the wider rule away); other rules are left alone.

Ownership: a group is this deployment's when its id is in the state file or its description carries the
deployment id (``... (deployment <id>, user <id>)``). Neutron allows several groups of one name; a group of
our name that this deployment cannot prove it made (an older launcher's, a colleague's, one made by hand)
is never modified, used or deleted: with none of ours beside it the run is refused before anything is
created (``foreign``), with ours beside it ours is used by id and the other left alone."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from provisioner.machine import ROLES, WORKER_ROLE
from provisioner.settings import Settings
from provisioner.state import StateFile

if TYPE_CHECKING:
    from openstack.connection import Connection

Out = Callable[[str], None]
APP_PORT = 5100
RABBITMQ_PORT = 5672
GROUPS = (*ROLES, WORKER_ROLE)
# security group (named <prefix>-<group>) -> ports open from allowed_cidr
CIDR_PORTS: dict[str, tuple[int, ...]] = {"prodserver": (22, APP_PORT), "devserver": (22,), WORKER_ROLE: ()}
# the ports whose rules the launcher reconciles (rules on other ports are the user's)
MANAGED_PORTS = frozenset({22, APP_PORT, RABBITMQ_PORT})
# security group -> (peer group, ports the peer's members may reach)
PEER_PORTS: dict[str, tuple[tuple[str, tuple[int, ...]], ...]] = {
    "prodserver": (("devserver", (22, APP_PORT)), (WORKER_ROLE, (RABBITMQ_PORT,))),
    "devserver": (("prodserver", (22,)),),
    WORKER_ROLE: (("prodserver", (22,)),),
}


def reconcile_rules(
    conn: Connection, group: Any, wanted: set[tuple[int, str | None, str | None]], out: Out
) -> None:
    """Make the group's TCP ingress rules on the launcher's ports exactly ``wanted`` (port, CIDR,
    remote group): missing ones are added, others on those ports removed (a narrowed allowed_cidr
    takes the old, wider rule away). Rules on other ports and egress rules are left alone."""
    have: dict[tuple[int, str | None, str | None], str] = {}
    for rule in group.security_group_rules or []:
        if rule.get("direction") != "ingress" or rule.get("protocol") not in ("tcp", "6"):
            continue
        low, high = rule.get("port_range_min"), rule.get("port_range_max")
        if low is None or low != high or low not in MANAGED_PORTS:
            continue
        prefix = rule.get("remote_ip_prefix")
        network = str(ipaddress.ip_network(prefix, strict=False)) if prefix else None
        have[(low, network, rule.get("remote_group_id"))] = rule["id"]
    for key, rule_id in have.items():
        if key not in wanted:
            port, network, _ = key
            conn.network.delete_security_group_rule(rule_id, ignore_missing=True)
            source = network or "a group"
            out(f"  security group {group.name}: removed tcp {port} from {source} (no longer wanted)")
    for port, network, remote_group in sorted(wanted - set(have), key=str):
        conn.create_security_group_rule(
            group.id,
            port_range_min=port,
            port_range_max=port,
            protocol="tcp",
            remote_ip_prefix=network,
            remote_group_id=remote_group,
            direction="ingress",
            ethertype="IPv6" if network and ipaddress.ip_network(network).version == 6 else "IPv4",
        )


def is_ours(state: StateFile, role: str, group: Any) -> bool:
    """Recorded in the state file, or described with this deployment's id."""
    deployment = state.data.get("deployment")
    return state.section("security_groups").get(role) == group.id or (
        bool(deployment) and f"deployment {deployment}" in (group.description or "")
    )


def named(conn: Connection, settings: Settings, role: str) -> list[Any]:
    """The project's security groups named ``<prefix>-<role>`` (Neutron allows several)."""
    name = settings.server_name(role)
    found = conn.network.security_groups(name=name, project_id=conn.current_project_id)
    return [group for group in found if group.name == name]


def split(conn: Connection, settings: Settings, state: StateFile, role: str) -> tuple[Any, list[Any]]:
    """(this deployment's group of the role or None, the others of that name)."""
    groups = named(conn, settings, role)
    ours = [group for group in groups if is_ours(state, role, group)]
    recorded = state.section("security_groups").get(role)
    ours.sort(key=lambda group: group.id != recorded)  # the recorded one first
    return (ours[0] if ours else None), [group for group in groups if group not in ours[:1]]


def foreign(conn: Connection, settings: Settings, state: StateFile) -> list[str]:
    """What stops a run: groups of our names that this deployment did not make, with none of ours
    beside them (one line each, with what to do)."""
    found = []
    for role in GROUPS:
        ours, others = split(conn, settings, state, role)
        if ours is None:
            for group in others:
                found.append(
                    f"security group {group.name} (id {group.id}, "
                    f"{repr(group.description) if group.description else 'no description'})"
                )
    return found


FOREIGN_GROUP_HINT = (
    "a security group this deployment cannot prove it made (an older launcher's, a colleague's, one made "
    "by hand) is never changed or deleted: if it is yours and no server uses it, delete it (openstack "
    "security group delete ID) or rename it (openstack security group set --name NEW-NAME ID), or "
    "choose another --prefix"
)


def ensure(conn: Connection, settings: Settings, state: StateFile, out: Out) -> dict[str, Any]:
    """prodserver's and devserver's groups, and the workers' group when there are (or were) workers:
    this deployment's (by id), created when missing."""
    groups: dict[str, Any] = {}
    descriptions = {
        "prodserver": "mlstack prodserver: SSH and the app; RabbitMQ from the workers",
        "devserver": "mlstack devserver: SSH",
        WORKER_ROLE: "mlstack worker machines: SSH from prodserver only",
    }
    for role in GROUPS:
        name = settings.server_name(role)
        group, others = split(conn, settings, state, role)
        if group is None and others:  # refused before anything was created (provider._refuse_foreign)
            raise AssertionError(f"security group {name} is not this deployment's")
        for other in others:
            out(f"  security group {name}: another of that name (id {other.id}) is not ours: left alone")
        if group is None and role == WORKER_ROLE and not settings.workers:
            continue
        if group is None:
            owner = f" (deployment {state.data['deployment']}, user {state.data.get('user_id')})"
            group = conn.create_security_group(name, descriptions[role] + owner)
            state.record("security_groups", role, group.id)
            out(f"  security group {name}: created")
        else:
            out(f"  security group {name}: reused")
        groups[role] = group
    cidr = str(ipaddress.ip_network(str(settings.allowed_cidr), strict=False))
    for role, group in groups.items():
        wanted = {(port, cidr, None) for port in CIDR_PORTS[role]}
        for peer, ports in PEER_PORTS[role]:
            if peer in groups:
                wanted |= {(port, None, groups[peer].id) for port in ports}
        reconcile_rules(conn, group, wanted, out)
    return groups
