"""The defects of issue 12, each reproduced against the real control plane of the test bed: ownership
with a colleague's same prefix, the routed external network, overlapping CIDRs, the quota preflight, a
narrowed allowed_cidr and duplicate image names. Each test cleans up in ``finally``."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from bedkit import PUBLIC, Recorder, leftovers

from provisioner.errors import LauncherError
from provisioner.providers.openstack import OpenStackProvider
from testbed.openstack import register

pytestmark = [
    pytest.mark.openstack,
    pytest.mark.docker,
    pytest.mark.filterwarnings("ignore::openstack.warnings.OpenStackDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


@pytest.fixture
def provider() -> OpenStackProvider:
    return OpenStackProvider(waiter=Recorder(), poll_interval=1)


def servers_of(conn, prefix: str) -> dict[str, tuple[str, str]]:
    """name -> (id, status) of the project's servers of ``prefix``."""
    return {s.name: (s.id, s.status) for s in conn.compute.servers() if s.name.startswith(f"{prefix}-")}


def rules_of(conn, prefix: str) -> dict[str, set[tuple]]:
    """security group name -> its ingress rules (port, remote prefix, remote group)."""
    return {
        g.name: {
            (r["port_range_min"], r["remote_ip_prefix"], r["remote_group_id"])
            for r in g.security_group_rules
            if r["direction"] == "ingress"
        }
        for g in conn.network.security_groups()
        if g.name.startswith(f"{prefix}-")
    }


def test_a_colleagues_deployment_with_our_prefix_is_refused_and_never_deleted(
    openstack_testbed, settings, provider
):
    member = openstack_testbed.connect("member")
    theirs = dataclasses.replace(
        settings, cloud=register.CLOUDS["colleague"], state_dir=settings.state_dir.parent / "colleague"
    )
    try:
        provider.up(theirs)
        before, groups_before = servers_of(member, settings.prefix), rules_of(member, settings.prefix)
        assert len(before) == 2 and len(groups_before) == 2

        with pytest.raises(LauncherError, match="not made by it") as refused:
            provider.up(settings)
        assert "nothing was changed" in str(refused.value)
        provider.down(settings)  # our --destroy on the same prefix
        assert servers_of(member, settings.prefix) == before, "their servers are untouched"
        assert rules_of(member, settings.prefix) == groups_before, "their groups and rules are untouched"
        assert member.compute.find_keypair(settings.keypair_name) is None, "nothing of ours was made"

        provider.down(theirs)
        provider.up(settings)  # now the prefix is free: ours
        ours = servers_of(member, settings.prefix)
        assert set(ours) == set(before) and not set(ours.values()) & set(before.values())
        provider.down(theirs)  # their --destroy, from their (emptied) state
        assert servers_of(member, settings.prefix) == ours, "their --destroy leaves ours alone"
    finally:
        provider.down(theirs)
        provider.down(settings)
    assert leftovers(member, settings.prefix, set(), set()) == []


def test_the_floating_ip_comes_from_the_external_network_the_router_reaches(
    openstack_testbed, settings, provider
):
    conn = openstack_testbed.connect("member")
    unpinned = dataclasses.replace(settings, floating_network=None)  # ext-nowhere sorts first by name
    try:
        machines = provider.up(unpinned)
        prod = next(m for m in machines if m.role == "prodserver")
        fip = next(conn.network.ips(floating_ip_address=prod.address))
        assert conn.network.get_network(fip.floating_network_id).name == register.EXTERNAL_NET
        assert ipaddress.ip_address(prod.address) in PUBLIC
    finally:
        provider.down(unpinned)
    assert leftovers(conn, settings.prefix, set(), {prod.address}) == []


def test_with_overlapping_cidrs_the_floating_ip_is_matched_by_port(openstack_testbed, settings, provider):
    """A port on private-overlap holds prodserver's very fixed address and a floating IP of its own: the
    launcher must keep to prodserver's port, never take (or delete) the other one."""
    conn = openstack_testbed.connect("member")
    decoy_port = decoy_fip = None
    try:
        machines = provider.up(settings)
        prod = next(m for m in machines if m.role == "prodserver")
        ours = next(conn.network.ips(floating_ip_address=prod.address))
        overlap = conn.network.find_network(register.OVERLAP_NET)
        decoy_port = conn.network.create_port(
            network_id=overlap.id,
            name=f"{settings.prefix}-decoy",
            fixed_ips=[{"subnet_id": overlap.subnet_ids[0], "ip_address": prod.private_address}],
        )
        public = conn.network.find_network(register.EXTERNAL_NET)
        decoy_fip = conn.network.create_ip(floating_network_id=public.id, port_id=decoy_port.id)
        assert decoy_fip.fixed_ip_address == ours.fixed_ip_address, "the same fixed address, twice"
        conn.network.update_ip(ours, port_id=None)  # prodserver lost its floating IP meanwhile

        again = next(m for m in provider.up(settings) if m.role == "prodserver")
        assert again.address == prod.address, "the floating IP this deployment recorded, reattached"
        assert again.address != decoy_fip.floating_ip_address
        assert conn.network.get_ip(decoy_fip.id).port_id == decoy_port.id, "the other one is untouched"
        provider.down(settings)
        assert conn.network.get_ip(decoy_fip.id).port_id == decoy_port.id, "--destroy leaves it too"
    finally:
        provider.down(settings)
        if decoy_fip is not None:
            conn.network.delete_ip(decoy_fip, ignore_missing=True)
        if decoy_port is not None:
            conn.network.delete_port(decoy_port, ignore_missing=True)
    assert leftovers(conn, settings.prefix, set(), {prod.address}) == []


def test_a_quota_too_small_for_the_workers_is_refused_before_anything_is_created(
    openstack_testbed, settings, provider
):
    conn = openstack_testbed.connect("member")
    limit = conn.compute.get_limits().absolute.instances
    too_many = dataclasses.replace(settings, workers=limit - 1)  # + prodserver and devserver
    try:
        with pytest.raises(LauncherError, match="quota is too small") as refused:
            provider.up(too_many)
        assert "instances" in str(refused.value) and "nothing was created" in str(refused.value)
        assert leftovers(conn, settings.prefix, set(), set()) == []
        assert conn.compute.find_keypair(settings.keypair_name) is None
    finally:
        provider.down(too_many)


def test_narrowing_allowed_cidr_removes_the_wider_rule(openstack_testbed, settings, provider):
    conn = openstack_testbed.connect("member")
    narrow = dataclasses.replace(settings, allowed_cidr="198.51.100.7/32")
    try:
        provider.up(settings)
        group = f"{settings.prefix}-prodserver"
        wide = {(port, "198.51.100.0/24", None) for port in (22, 5100)}
        assert wide <= rules_of(conn, settings.prefix)[group]
        provider.up(narrow)
        rules = rules_of(conn, settings.prefix)[group]
        cidrs = {prefix for port, prefix, _ in rules if port in (22, 5100) and prefix}
        assert cidrs == {"198.51.100.7/32"}, rules
    finally:
        provider.down(narrow)
    assert leftovers(conn, settings.prefix, set(), set()) == []


def test_duplicate_image_names_resolve_to_the_newest_active_image(openstack_testbed, settings, provider):
    conn = openstack_testbed.connect("member")
    twins = sorted(conn.image.images(name=register.DUPLICATE_IMAGE), key=lambda i: i.created_at)
    assert len(twins) >= 2 and all(i.status == "active" for i in twins)
    rebuilt = dataclasses.replace(settings, image=register.DUPLICATE_IMAGE)
    try:
        provider.up(rebuilt)
        images = {s.image.id for s in conn.compute.servers() if s.name.startswith(f"{settings.prefix}-")}
        assert images == {twins[-1].id}
    finally:
        provider.down(rebuilt)
    assert leftovers(conn, settings.prefix, set(), set()) == []
