"""The launcher's OpenStack provider against the real control plane of the test bed: prodserver and
devserver to ACTIVE with floating IPs, then ``down`` (what ``--destroy`` runs) leaves nothing of the prefix.

Nothing boots on the test bed, so the SSH/cloud-init waiter is replaced by a recorder: the test stops at
ACTIVE + floating IP (SSH, cloud-init and the configuration stay covered by local machines)."""

from __future__ import annotations

import dataclasses
import ipaddress
import time

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


def test_up_reaches_active_with_floating_ips_and_down_leaves_nothing(openstack_testbed, settings):
    conn = openstack_testbed.connect("member")
    waits = Recorder()
    provider = OpenStackProvider(waiter=waits, poll_interval=1)
    started = time.monotonic()
    try:
        machines = provider.up(settings)
        print(f"\nup: {len(machines)} servers ACTIVE with floating IPs in {time.monotonic() - started:.1f}s")
        names = {m.name: m for m in machines}
        assert set(names) == {f"{settings.prefix}-prodserver", f"{settings.prefix}-devserver"}
        assert waits.calls and waits.calls[0][1] == set(names), "both are new"

        servers = {s.name: s for s in conn.compute.servers() if s.name.startswith(settings.prefix)}
        assert {name: s.status for name, s in servers.items()} == dict.fromkeys(names, "ACTIVE")
        server_ids = {s.id for s in servers.values()}
        prod = names[f"{settings.prefix}-prodserver"]
        assert ipaddress.ip_address(prod.address) in PUBLIC, "prodserver is reached by its floating IP"
        fip = next(conn.network.ips(floating_ip_address=prod.address))
        assert fip.status == "ACTIVE"
        port = conn.network.get_port(fip.port_id)
        assert port.device_id == servers[prod.name].id, "the floating IP is on prodserver's port"
        assert port.status == "ACTIVE", "bound (by the test bed's stand-in mechanism driver)"
        addresses = {
            ip.floating_ip_address
            for ip in conn.network.ips()
            if ip.port_id and ip.port_id in {p.id for p in conn.network.ports() if p.device_id in server_ids}
        }
        assert prod.address in addresses
    finally:
        started = time.monotonic()
        provider.down(settings)
        print(f"down: {time.monotonic() - started:.1f}s")
    assert leftovers(conn, settings.prefix, server_ids, addresses) == []


def test_a_zero_disk_flavor_without_block_storage_is_refused_before_anything_is_created(
    openstack_testbed, settings
):
    """A zero-disk flavor turns boot-from-volume on; the test bed has no Cinder, so the launcher stops in
    its preflight with the missing service named, instead of leaving Nova to fail after the keypair and
    security groups exist."""
    conn = openstack_testbed.connect("member")
    catalog = {entry["type"] for entry in conn.config.get_service_catalog().catalog}
    assert not catalog & {"volume", "volumev2", "volumev3", "block-storage"}, "the test bed has no Cinder"
    provider = OpenStackProvider(waiter=Recorder(), poll_interval=1)
    bad = dataclasses.replace(settings, flavor=register.ZERO_DISK_FLAVOR)
    try:
        with pytest.raises(LauncherError, match=r"no block-storage service \(Cinder\)") as failure:
            provider.up(bad)
        message = str(failure.value)
        assert register.ZERO_DISK_FLAVOR in message and "nothing was created" in message
        assert "--flavor" in (failure.value.hint or "")
        assert "Traceback" not in message
        assert leftovers(conn, bad.prefix, set(), set()) == []
        assert conn.compute.find_keypair(bad.keypair_name) is None

        forced = dataclasses.replace(settings, boot_from_volume=True)  # a flavor with a disk, but asked
        with pytest.raises(LauncherError, match=r"--boot-from-volume is set, but .* no block-storage"):
            provider.up(forced)
        assert leftovers(conn, bad.prefix, set(), set()) == []
    finally:
        provider.down(bad)
