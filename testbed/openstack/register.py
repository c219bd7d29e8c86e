"""What the tests find on the test bed, created through the real APIs with openstacksdk (idempotent: every
resource is looked up by name first), and the clouds.yaml that reaches it.

- project ``ci-project`` with two members, ``ci-member`` and ``ci-colleague`` (two users in one project),
  and modest quotas; the ``admin`` user of keystone's bootstrap;
- images ``debian-12`` (a few bytes, nothing boots) and ``debian-12-rebuilt`` twice, the second uploaded
  later (a cloud that rebuilds an image under the same name);
- flavors ``ci.small`` (1 vCPU, 512 MiB, 1 GB disk) and ``ci.nodisk`` (disk 0: volume-backed servers only);
- external networks ``public`` (203.0.113.0/24, reached through ``ci-router``) and ``ext-nowhere``
  (192.0.2.0/24, reached by no router; first by name); private networks ``private`` and
  ``private-overlap`` with the same CIDR 10.20.0.0/24 (the second behind ``ci-router-overlap``).
All external addresses are documentation ranges: records only, never sent traffic.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import openstack
import yaml
from openstack.connection import Connection

from testbed.openstack.bed import Bed

PROJECT = "ci-project"
MEMBER = "ci-member"
COLLEAGUE = "ci-colleague"
CLOUDS = {"member": "testbed", "colleague": "testbed-colleague", "admin": "testbed-admin"}
IMAGE = "debian-12"
DUPLICATE_IMAGE = "debian-12-rebuilt"
FLAVOR = "ci.small"
ZERO_DISK_FLAVOR = "ci.nodisk"
PRIVATE_NET = "private"
OVERLAP_NET = "private-overlap"
PRIVATE_CIDR = "10.20.0.0/24"
EXTERNAL_NET = "public"
UNROUTED_NET = "ext-nowhere"
ROUTER = "ci-router"
COMPUTE_QUOTAS = {"instances": 6, "cores": 12, "ram": 6144, "key_pairs": 20}
NETWORK_QUOTAS = {"floating_ips": 6, "security_groups": 20, "security_group_rules": 120, "ports": 40}


def clouds(bed: Bed) -> dict[str, Any]:
    """The clouds.yaml content: the member, the colleague (same project) and the admin."""

    def entry(user: str, project: str) -> dict[str, Any]:
        return {
            "auth": {
                "auth_url": bed.auth_url,
                "username": user,
                "password": bed.password,
                "project_name": project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "region_name": "RegionOne",
            "identity_api_version": 3,
            "interface": "public",
        }

    return {
        "clouds": {
            CLOUDS["member"]: entry(MEMBER, PROJECT),
            CLOUDS["colleague"]: entry(COLLEAGUE, PROJECT),
            CLOUDS["admin"]: entry("admin", "admin"),
        }
    }


def write_clouds_yaml(bed: Bed, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# The OpenStack test bed (make openstack-up); CI-only passwords\n" + yaml.safe_dump(clouds(bed))
    )
    return path


def connect(bed: Bed, who: str) -> Connection:
    """A connection as ``who`` (member, colleague or admin), built from :func:`clouds`."""
    config = clouds(bed)["clouds"][CLOUDS[who]]
    return openstack.connect(
        auth=config["auth"], region_name="RegionOne", identity_api_version="3", api_timeout=60
    )


def _identity(admin: Connection, bed: Bed) -> Any:
    project = admin.identity.find_project(PROJECT, domain_id="default") or admin.identity.create_project(
        name=PROJECT, domain_id="default", description="the launcher's tests"
    )
    member_role = admin.identity.find_role("member")
    for name in (MEMBER, COLLEAGUE):
        user = admin.identity.find_user(name, domain_id="default") or admin.identity.create_user(
            name=name, domain_id="default", password=bed.password, default_project_id=project.id
        )
        admin.identity.assign_project_role_to_user(project, user, member_role)
    return project


def _flavors(admin: Connection) -> None:
    for name, disk in ((FLAVOR, 1), (ZERO_DISK_FLAVOR, 0)):
        if admin.compute.find_flavor(name) is None:
            admin.compute.create_flavor(name=name, vcpus=1, ram=512, disk=disk, is_public=True)


def _quotas(admin: Connection, project: Any) -> None:
    admin.set_compute_quotas(project.id, **COMPUTE_QUOTAS)
    admin.network.update_quota(project.id, **NETWORK_QUOTAS)


def _external(admin: Connection, name: str, physnet: str, cidr: str) -> Any:
    network = admin.network.find_network(name)
    if network is None:
        network = admin.network.create_network(
            name=name,
            is_router_external=True,
            provider_network_type="flat",
            provider_physical_network=physnet,
        )
    if not network.subnet_ids:
        admin.network.create_subnet(
            name=f"{name}-subnet", network_id=network.id, ip_version=4, cidr=cidr, is_dhcp_enabled=False
        )
    return network


def _private(member: Connection, name: str, router_name: str, gateway: Any) -> None:
    network = member.network.find_network(name) or member.network.create_network(name=name)
    subnet = member.network.find_subnet(f"{name}-subnet")
    if subnet is None:
        subnet = member.network.create_subnet(
            name=f"{name}-subnet", network_id=network.id, ip_version=4, cidr=PRIVATE_CIDR
        )
    router = member.network.find_router(router_name)
    if router is None:
        router = member.network.create_router(
            name=router_name, external_gateway_info={"network_id": gateway.id}
        )
        member.network.add_interface_to_router(router, subnet_id=subnet.id)


def _images(member: Connection) -> None:
    def upload(name: str, data: bytes) -> None:
        image = member.image.create_image(
            name=name, data=data, disk_format="raw", container_format="bare", allow_duplicates=True
        )
        deadline = time.monotonic() + 120
        while image.status != "active":
            if image.status in ("killed", "deleted") or time.monotonic() > deadline:
                raise RuntimeError(f"image {name} is {image.status}, not active")
            time.sleep(1)
            image = member.image.get_image(image.id)

    if not list(member.image.images(name=IMAGE)):
        upload(IMAGE, b"not a bootable disk: nothing boots on the test bed\n")
    for generation in range(len(list(member.image.images(name=DUPLICATE_IMAGE))), 2):
        upload(DUPLICATE_IMAGE, f"rebuild {generation}\n".encode())


def register(bed: Bed) -> None:
    """Create whatever is missing."""
    admin = connect(bed, "admin")
    project = _identity(admin, bed)
    _flavors(admin)
    _quotas(admin, project)
    public = _external(admin, EXTERNAL_NET, "public", "203.0.113.0/24")
    _external(admin, UNROUTED_NET, "nowhere", "192.0.2.0/24")
    member = connect(bed, "member")
    _private(member, PRIVATE_NET, ROUTER, public)
    _private(member, OVERLAP_NET, f"{ROUTER}-overlap", public)
    _images(member)
