"""The test bed itself, through openstacksdk as the project member: what the launcher's tests rely on."""

from __future__ import annotations

import ipaddress

import pytest
from openstack import exceptions

from testbed.openstack import register

pytestmark = [
    pytest.mark.openstack,
    pytest.mark.docker,
    pytest.mark.filterwarnings("ignore::openstack.warnings.OpenStackDeprecationWarning"),
]


def test_member_sees_the_catalog_images_flavors_and_networks(openstack_testbed):
    conn = openstack_testbed.connect("member")
    catalog = {entry["type"]: entry for entry in conn.config.get_service_catalog().catalog}
    assert {"identity", "image", "compute", "network", "placement"} <= set(catalog)
    for entry in catalog.values():
        for endpoint in entry["endpoints"]:
            assert endpoint["url"].startswith("http://127.0.0.1:"), endpoint

    images = list(conn.image.images())
    by_name = {}
    for image in images:
        by_name.setdefault(image.name, []).append(image)
    assert [i.status for i in by_name[register.IMAGE]] == ["active"]
    rebuilt = sorted(by_name[register.DUPLICATE_IMAGE], key=lambda i: i.created_at)
    assert len(rebuilt) == 2, "two images share one name"
    assert rebuilt[0].id != rebuilt[1].id

    flavors = {f.name: f for f in conn.compute.flavors()}
    assert flavors[register.FLAVOR].disk > 0
    assert flavors[register.ZERO_DISK_FLAVOR].disk == 0

    networks = {n.name: n for n in conn.network.networks()}
    assert networks[register.EXTERNAL_NET].is_router_external
    assert networks[register.UNROUTED_NET].is_router_external
    cidrs = {
        name: [conn.network.get_subnet(s).cidr for s in networks[name].subnet_ids]
        for name in (register.PRIVATE_NET, register.OVERLAP_NET)
    }
    assert cidrs[register.PRIVATE_NET] == cidrs[register.OVERLAP_NET] == [register.PRIVATE_CIDR]
    admin = openstack_testbed.connect("admin")  # the external subnets are the admin project's
    external = [admin.network.get_subnet(s).cidr for s in networks[register.EXTERNAL_NET].subnet_ids]
    assert ipaddress.ip_network(external[0]).subnet_of(ipaddress.ip_network("203.0.113.0/24"))
    gateways = {
        r.external_gateway_info["network_id"] for r in conn.network.routers() if r.external_gateway_info
    }
    assert networks[register.EXTERNAL_NET].id in gateways
    assert networks[register.UNROUTED_NET].id not in gateways, "no router reaches ext-nowhere"


def test_member_and_colleague_share_one_project(openstack_testbed):
    member = openstack_testbed.connect("member")
    colleague = openstack_testbed.connect("colleague")
    assert member.current_project_id == colleague.current_project_id
    assert member.current_user_id != colleague.current_user_id


def test_zero_disk_flavor_is_refused_by_nova(openstack_testbed):
    """A real policy of nova's, not the launcher's: image-backed servers need a flavor with a disk."""
    conn = openstack_testbed.connect("member")
    image = conn.image.find_image(register.IMAGE)
    flavor = conn.compute.find_flavor(register.ZERO_DISK_FLAVOR)
    network = conn.network.find_network(register.PRIVATE_NET)
    with pytest.raises(exceptions.ForbiddenException, match="zero disk"):
        conn.compute.create_server(
            name="tb-zero-disk", image_id=image.id, flavor_id=flavor.id, networks=[{"uuid": network.id}]
        )
    assert conn.compute.find_server("tb-zero-disk") is None
