"""The launcher's OpenStack provider against the real control plane of the test bed: prodserver and
devserver to ACTIVE with floating IPs, then ``down`` (what ``--destroy`` runs) leaves nothing of the prefix.

Nothing boots on the test bed, so the SSH/cloud-init waiter is replaced by a recorder: the test stops at
ACTIVE + floating IP (SSH, cloud-init and the configuration stay covered by local machines)."""

from __future__ import annotations

import dataclasses
import ipaddress
import secrets
import time
from pathlib import Path

import pytest

from provisioner.errors import LauncherError
from provisioner.machine import Machine
from provisioner.providers.openstack import OpenStackProvider
from provisioner.settings import Settings
from testbed.openstack import register

pytestmark = [
    pytest.mark.openstack,
    pytest.mark.docker,
    pytest.mark.filterwarnings("ignore::openstack.warnings.OpenStackDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]
PUBLIC = ipaddress.ip_network("203.0.113.0/24")


class Recorder:
    """Stands in for the SSH/cloud-init waiter: records what it was asked to wait for."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[Machine], set[str]]] = []

    def __call__(
        self, machines: list[Machine], settings: Settings, *, new: set[str], progress: object
    ) -> None:
        self.calls.append((list(machines), set(new)))


@pytest.fixture
def settings(isolated: Path, keypair: tuple[Path, Path]) -> Settings:
    private, public = keypair
    return Settings(
        provider="openstack",
        cloud=register.CLOUDS["member"],
        image=register.IMAGE,
        flavor=register.FLAVOR,
        network=register.PRIVATE_NET,
        floating_network=register.EXTERNAL_NET,
        prefix=f"tb{secrets.token_hex(3)}",
        public_key=public,
        private_key=private,
        state_dir=isolated / "state",
        inventory_dir=isolated / "inventory",
        artifacts_dir=isolated / "artifacts",
        allowed_cidr="198.51.100.0/24",
        server_timeout=180,
    )


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


def test_a_zero_disk_flavor_fails_with_novas_reason(openstack_testbed, settings):
    provider = OpenStackProvider(waiter=Recorder(), poll_interval=1)
    bad = dataclasses.replace(settings, flavor=register.ZERO_DISK_FLAVOR)
    try:
        with pytest.raises(LauncherError, match="zero disk") as failure:
            provider.up(bad)
        assert "Traceback" not in str(failure.value)
    finally:
        provider.down(bad)
    assert leftovers(openstack_testbed.connect("member"), bad.prefix, set(), set()) == []
