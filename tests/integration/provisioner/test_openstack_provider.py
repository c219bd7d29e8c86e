"""The OpenStack provider through the real openstacksdk, against the fake cloud at the HTTP level."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest
import yaml
from fakecloud import PRIVATE_NET, PROJECT_ID, USER_ID, state_path

from provisioner import hostkeys
from provisioner.errors import ConfigError, ProviderError

pytestmark = [
    pytest.mark.filterwarnings("ignore::openstack.warnings.OpenStackDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]
MUTATING = ("POST", "PUT", "DELETE", "PATCH")


def server_posts(cloud):
    return cloud.requests("POST", r"/v2\.1/servers$")


def mutations(cloud):
    return [
        c
        for c in cloud.calls
        if c.method in MUTATING
        and c.path != "/v3/auth/tokens"
        and "os-getConsoleOutput" not in (c.body or {})  # a read, though a POST
    ]


def test_first_run_sends_the_right_server_requests(cloud, provider, settings, waits):
    machines = provider.up(settings)

    posts = server_posts(cloud)
    assert len(posts) == 2, "both servers are requested"
    bodies_calls = {p.body["server"]["name"]: p for p in posts}
    bodies = {name: call.body["server"] for name, call in bodies_calls.items()}
    assert set(bodies) == {"mlstack-prodserver", "mlstack-devserver"}
    public_key = settings.public_key.read_text().strip()
    state = json.loads(state_path(settings).read_text())
    assert len(state["deployment"]) == 32 and state["user_id"] == USER_ID
    for name, body in bodies.items():
        role = name.removeprefix("mlstack-")
        user_data = base64.b64decode(body["user_data"]).decode()
        assert user_data.startswith("#cloud-config\n")
        config = yaml.safe_load(user_data)
        appuser = next(u for u in config["users"] if isinstance(u, dict) and u["name"] == "appuser")
        assert appuser["ssh_authorized_keys"] == [public_key]
        assert appuser["sudo"] == "ALL=(ALL) NOPASSWD:ALL"
        assert "default" in config["users"]
        assert body["key_name"] == "mlstack-key"
        assert body["networks"] == [{"uuid": PRIVATE_NET}]
        group_id = next(g["id"] for g in cloud.security_groups.values() if g["name"] == name)
        assert body["security_groups"] == [{"name": group_id}], "by id: another group may share the name"
        assert body["imageRef"] == "img-debian-12"
        assert body["flavorRef"] == "fl-medium"
        assert body["metadata"] == {
            "mlstack_prefix": "mlstack",
            "mlstack_role": role,
            "mlstack_deployment": state["deployment"],
            "mlstack_user": USER_ID,
        }

    # devserver is requested while prodserver is still building: the two builds run concurrently
    prod_id = cloud.server_by_name("mlstack-prodserver")["id"]
    dev_post = next(i for i, c in enumerate(cloud.calls) if c is bodies_calls["mlstack-devserver"])
    prod_polls_before = len(
        [c for c in cloud.calls[:dev_post] if c.method == "GET" and c.path.endswith(prod_id)]
    )
    assert prod_polls_before <= cloud.build_polls, "prodserver was still BUILD when devserver was requested"

    keypair_post = cloud.requests("POST", r"/os-keypairs$")
    assert keypair_post[0].body["keypair"] == {"name": "mlstack-key", "public_key": public_key}

    prod_group = cloud.group_by_name("mlstack-prodserver")
    dev_group = cloud.group_by_name("mlstack-devserver")
    ingress = lambda g: sorted(  # noqa: E731
        (r["port_range_min"], r["remote_ip_prefix"] or f"group:{r['remote_group_id']}")
        for r in g["security_group_rules"]
        if r["direction"] == "ingress"
    )
    assert ingress(prod_group) == sorted(
        [
            (22, "198.51.100.0/24"),
            (5100, "198.51.100.0/24"),
            (22, f"group:{dev_group['id']}"),
            (5100, f"group:{dev_group['id']}"),
        ]
    )
    assert ingress(dev_group) == sorted([(22, "198.51.100.0/24"), (22, f"group:{prod_group['id']}")])

    fip_posts = cloud.requests("POST", r"/floatingips$")
    assert len(fip_posts) == 1, "one floating IP, for prodserver"
    prod, dev = machines
    assert (prod.role, dev.role) == ("prodserver", "devserver")
    assert prod.address.startswith("203.0.113.")
    assert prod.private_address.startswith("10.0.0.")
    assert dev.proxy_jump == f"appuser@{prod.address}:22"
    assert dev.address == dev.private_address
    assert prod.key_path == settings.private_key
    assert waits.calls == [(machines, {"mlstack-prodserver", "mlstack-devserver"})]

    state = json.loads(state_path(settings).read_text())
    assert set(state["servers"]) == {"prodserver", "devserver"}
    assert state["created"] == {"keypair": "mlstack-key"}
    assert len(state["floating_ips"]) == 1
    assert set(state["security_groups"]) == {"prodserver", "devserver"}


def test_second_run_reuses_everything_and_creates_nothing(cloud, provider, settings, waits):
    first = provider.up(settings)
    cloud.calls.clear()

    second = provider.up(settings)

    assert server_posts(cloud) == []
    assert mutations(cloud) == [], f"a re-run must not change the cloud: {mutations(cloud)}"
    assert [m.address for m in second] == [m.address for m in first]
    assert len(cloud.servers) == 2
    assert waits.calls[-1][1] == set(), "reused machines keep their known host keys"


def test_a_colleagues_servers_with_our_names_are_refused_and_left_alone(cloud, provider, settings):
    """Two users of one project with the same prefix: the second run touches nothing of the first's."""
    colleague = "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
    prod = cloud.add_server(
        "mlstack-prodserver", mlstack_prefix="mlstack", mlstack_role="prodserver", mlstack_user=colleague
    )
    prod["user_id"] = colleague
    port = next(p for p in cloud.ports.values() if p["device_id"] == prod["id"])
    cloud.add_floating_ip("203.0.113.7", port["id"])

    with pytest.raises(ConfigError) as caught:
        provider.up(settings)
    message = str(caught.value)
    assert f"server mlstack-prodserver (user {colleague}" in message
    assert "not made by it" in message and "nothing was changed" in message and "--prefix" in message
    assert mutations(cloud) == [], "nothing is created before the refusal"
    with pytest.raises(ConfigError, match="server mlstack-prodserver"):
        provider.plan(settings)

    plan = provider.plan(dataclasses.replace(settings, destroy=True))
    assert "leave server mlstack-prodserver alone: not made by this deployment" in plan
    assert not any(line.startswith("delete server") for line in plan)
    provider.down(settings)
    assert prod["id"] in cloud.servers, "--destroy never deletes a colleague's server"
    assert mutations(cloud) == []


def test_a_security_group_with_our_name_that_we_did_not_make_is_refused(cloud, provider, settings):
    cloud.security_groups["sg-user"] = {
        "id": "sg-user",
        "name": "mlstack-devserver",
        "description": "a colleague's",
        "project_id": PROJECT_ID,
        "tenant_id": PROJECT_ID,
        "security_group_rules": [],
        "stateful": True,
    }
    with pytest.raises(
        ConfigError, match=r"security group mlstack-devserver \(id sg-user, \"a colleague's\"\)"
    ):
        provider.up(settings)
    assert mutations(cloud) == []


def test_a_server_this_deployment_made_is_reused_by_its_deployment_id(cloud, provider, settings):
    provider.up(settings)
    path = state_path(settings)
    state = json.loads(path.read_text())
    state["servers"] = {}  # recorded ids lost: the deployment id in the metadata still says "ours"
    path.write_text(json.dumps(state))
    cloud.calls.clear()

    provider.up(settings)

    assert server_posts(cloud) == []


def test_a_free_floating_ip_this_deployment_did_not_record_is_never_taken(cloud, provider, settings):
    colleagues = cloud.add_floating_ip("203.0.113.42")  # free, but perhaps a colleague's reserved address

    machines = provider.up(settings)

    assert machines[0].address != "203.0.113.42"
    assert cloud.requests("PUT", rf"/floatingips/{colleagues['id']}$") == []
    post = cloud.requests("POST", r"/floatingips$")
    assert len(post) == 1
    state = json.loads(state_path(settings).read_text())
    assert post[0].body["floatingip"]["description"] == (
        f"mlstack mlstack-prodserver (deployment {state['deployment']})"
    )
    assert colleagues["port_id"] is None


def test_a_floating_ip_this_deployment_recorded_is_reused(cloud, provider, settings):
    first = provider.up(settings)
    prod = cloud.server_by_name("mlstack-prodserver")
    cloud.servers.pop(prod["id"])  # the server is gone; its floating IP stays, free
    for port_id in [p for p, port in cloud.ports.items() if port["device_id"] == prod["id"]]:
        del cloud.ports[port_id]
    for fip in cloud.floating_ips.values():
        if fip["port_id"] and fip["port_id"] not in cloud.ports:
            fip.update(port_id=None, fixed_ip_address=None, status="DOWN")
    cloud.calls.clear()

    second = provider.up(settings)

    assert second[0].address == first[0].address
    assert cloud.requests("POST", r"/floatingips$") == []
    assert len(cloud.requests("PUT", r"/floatingips/")) == 1


def test_a_floating_ip_is_matched_by_port_not_by_fixed_address(cloud, provider, settings):
    """A second network with the same CIDR: a colleague's server there has the same fixed address as
    prodserver, and a floating IP on it."""
    cloud.networks.append(dict(cloud._network("net-other", "other", external=False), project_id="other"))
    provider.up(dataclasses.replace(settings, network="private"))
    prod = cloud.server_by_name("mlstack-prodserver")
    ours = next(f for f in cloud.floating_ips.values() if f["port_id"])
    fixed = ours["fixed_ip_address"]
    cloud.floating_ips.pop(ours["id"])  # our floating IP went away (released by hand)
    other_port = cloud._add_port("colleagues-server", "net-other")
    other_port["fixed_ips"][0]["ip_address"] = fixed
    colleagues = cloud.add_floating_ip("203.0.113.77", other_port["id"])
    path = state_path(settings)
    state = json.loads(path.read_text())
    state["floating_ips"] = {}
    path.write_text(json.dumps(state))

    machines = provider.up(dataclasses.replace(settings, network="private"))

    assert machines[0].address != colleagues["floating_ip_address"]
    assert len(cloud.requests("POST", r"/floatingips$")) == 2
    assert prod["id"] in cloud.servers


def test_the_external_network_is_the_one_the_router_reaches(cloud, provider, settings):
    # alphabetically first, external, but no router of the private subnet has its gateway there
    cloud.networks.append(dict(cloud._network("net-aaa", "aaa-public", external=True), subnets=[]))

    provider.up(settings)

    posts = cloud.requests("POST", r"/floatingips$")
    assert [p.body["floatingip"]["floating_network_id"] for p in posts] == ["net-public-0001"]


def test_no_router_and_several_external_networks_asks_for_floating_network(cloud, provider, settings):
    cloud.networks.append(dict(cloud._network("net-aaa", "aaa-public", external=True), subnets=[]))
    cloud.routers.clear()

    with pytest.raises(ConfigError, match="--floating-network") as caught:
        provider.up(settings)
    assert "aaa-public, public" in str(caught.value)
    assert mutations(cloud) == [], "the external network is found before anything is created"


def test_devserver_floating_ip_when_asked(cloud, provider, settings):
    machines = provider.up(dataclasses.replace(settings, devserver_floating_ip=True))
    assert len(cloud.requests("POST", r"/floatingips$")) == 2
    assert machines[1].proxy_jump is None
    assert machines[1].address.startswith("203.0.113.")


def test_server_in_error_is_reported_deleted_and_fails(cloud, provider, settings, capsys):
    cloud.error_fault = "No valid host was found. There are not enough hosts available."

    with pytest.raises(ProviderError) as failure:
        provider.up(settings)

    assert "No valid host was found" in failure.value.message
    assert "ERROR" in failure.value.message
    deletes = cloud.requests("DELETE", r"/servers/")
    assert len(deletes) >= 1
    assert len(cloud.servers) < 2, "the server in ERROR is gone"
    state = json.loads(state_path(settings).read_text())
    deleted_ids = {d.path.rsplit("/", 1)[1] for d in deletes}
    assert not deleted_ids & set(state.get("servers", {}).values())


def test_an_existing_server_in_error_is_deleted_before_anything_is_created(cloud, provider, settings):
    provider.up(settings)
    broken = cloud.server_by_name("mlstack-prodserver")
    broken.update(status="ERROR", fault={"code": 500, "message": "Build of instance aborted: disk full"})
    cloud.calls.clear()

    with pytest.raises(ProviderError, match="disk full"):
        provider.up(settings)

    assert cloud.requests("DELETE", rf"/servers/{broken['id']}$")
    assert server_posts(cloud) == []


def test_quota_exceeded_is_a_clear_error(cloud, provider, settings):
    cloud.quota_exceeded = True
    with pytest.raises(ProviderError) as failure:
        provider.up(settings)
    assert "quota exceeded" in failure.value.message
    assert "Quota exceeded for instances" in failure.value.message
    assert "limits show" in failure.value.hint


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("image", "debian12", "debian-12"),
        ("flavor", "m1.meduim", "m1.medium"),
        ("network", "privte", "private"),
    ],
)
def test_unknown_names_list_close_matches(cloud, provider, settings, field, value, expected):
    with pytest.raises(ConfigError) as failure:
        provider.up(dataclasses.replace(settings, **{field: value}))
    assert f"{field} {value!r} not found" in failure.value.message
    assert expected in failure.value.message
    assert mutations(cloud) == [], "nothing is created before the names are checked"


def test_duplicate_image_names_take_the_newest_active_one(cloud, provider, settings, capsys):
    cloud.images += [
        {"id": "img-old", "name": "debian-12", "status": "active", "created_at": "2023-05-01T00:00:00Z"},
        {"id": "img-new", "name": "debian-12", "status": "active", "created_at": "2025-02-01T00:00:00Z"},
        {"id": "img-queued", "name": "debian-12", "status": "queued", "created_at": "2026-01-01T00:00:00Z"},
    ]
    cloud.images[0]["created_at"] = "2024-01-01T00:00:00Z"

    provider.up(settings)

    assert {p.body["server"]["imageRef"] for p in server_posts(cloud)} == {"img-new"}
    out = capsys.readouterr().out
    assert "4 images are named 'debian-12': taking the newest ACTIVE one, img-new" in out


def test_a_quota_too_small_for_the_workers_stops_before_anything_is_created(cloud, provider, settings):
    cloud.max_instances = 3

    with pytest.raises(ProviderError) as caught:
        provider.up(dataclasses.replace(settings, workers=2))

    message = str(caught.value)
    assert "quota is too small for 4 more server(s) of flavor m1.medium" in message
    assert "instances: 4 needed, 3 of 3 free" in message and "nothing was created" in message
    assert mutations(cloud) == []


def test_cores_and_ram_quota_are_checked_too(cloud, provider, settings):
    cloud.max_cores, cloud.max_ram = 3, 6000

    with pytest.raises(ProviderError) as caught:
        provider.up(settings)

    assert "cores: 4 needed, 3 of 3 free; RAM (MiB): 8192 needed, 6000 of 6000 free" in str(caught.value)
    assert mutations(cloud) == []


def test_destroy_deletes_exactly_what_was_created(cloud, provider, settings):
    # the user's own resources, which must survive
    users_fip = cloud.add_floating_ip("203.0.113.9")
    cloud.keypairs["users-key"] = {"name": "users-key", "public_key": "ssh-ed25519 AAAA user", "type": "ssh"}
    stranger = cloud.add_server("someone-elses-server")
    provider.up(settings)
    created_servers = {s["id"] for s in cloud.servers.values() if s["name"].startswith("mlstack-")}
    created_groups = {g["id"] for g in cloud.security_groups.values()}
    allocated_fips = {i for i in cloud.floating_ips if i != users_fip["id"]}
    cloud.calls.clear()

    provider.down(settings)

    deleted = {c.path for c in cloud.requests("DELETE", ".")}
    expected = {f"/v2.1/servers/{i}" for i in created_servers}
    expected |= {f"/v2.0/security-groups/{i}" for i in created_groups}
    expected |= {"/v2.1/os-keypairs/mlstack-key"}
    expected |= {f"/v2.0/floatingips/{i}" for i in allocated_fips}
    assert len(allocated_fips) == 1
    assert deleted == expected, "the user's free floating IP was never ours: neither taken nor released"
    assert list(cloud.floating_ips) == [users_fip["id"]]
    assert "users-key" in cloud.keypairs
    assert stranger["id"] in cloud.servers
    assert not state_path(settings).exists()

    cloud.calls.clear()
    provider.down(settings)  # twice is harmless
    assert [c for c in cloud.calls if c.method == "DELETE"] == []


def test_destroy_releases_the_floating_ip_it_allocated(cloud, provider, settings):
    provider.up(settings)
    allocated = {f["id"] for f in cloud.floating_ips.values()}
    assert len(allocated) == 1

    provider.down(settings)

    assert {c.path for c in cloud.requests("DELETE", r"/floatingips/")} == {
        f"/v2.0/floatingips/{i}" for i in allocated
    }
    assert cloud.floating_ips == {} and cloud.servers == {} and cloud.security_groups == {}
    assert cloud.keypairs == {}


def test_destroy_keeps_resources_that_existed_before(cloud, provider, settings):
    # a keypair with our name and the same key, made by the user before the first run (keypairs are the
    # user's own in Nova, so it is safe to reuse)
    cloud.keypairs["mlstack-key"] = {
        "name": "mlstack-key",
        "public_key": settings.public_key.read_text().strip(),
        "type": "ssh",
    }
    provider.up(settings)
    assert cloud.requests("POST", r"/os-keypairs$") == []

    provider.down(settings)

    assert "mlstack-key" in cloud.keypairs
    assert cloud.group_by_name("mlstack-devserver") is None


def test_keypair_with_a_different_key_is_refused(cloud, provider, settings):
    cloud.keypairs["mlstack-key"] = {
        "name": "mlstack-key",
        "public_key": "ssh-ed25519 AAAAother x",
        "type": "ssh",
    }
    with pytest.raises(ConfigError, match="different public key"):
        provider.up(settings)
    assert server_posts(cloud) == []


def test_dry_run_plan_reads_but_changes_nothing(cloud, provider, settings):
    lines = provider.plan(settings)
    assert mutations(cloud) == []
    text = "\n".join(lines)
    assert "keypair mlstack-key: create" in text
    assert "server mlstack-prodserver: create (image debian-12, flavor m1.medium, network private" in text
    assert "server mlstack-devserver: create" in text

    provider.up(settings)
    cloud.calls.clear()
    text = "\n".join(provider.plan(settings))
    assert "server mlstack-prodserver: reuse (ACTIVE)" in text
    down = provider.plan(dataclasses.replace(settings, destroy=True))
    assert "delete server mlstack-prodserver (ACTIVE)" in down
    assert "delete keypair mlstack-key" in down
    assert mutations(cloud) == []


def test_status_lists_servers(cloud, provider, settings):
    assert provider.status(settings) == []
    provider.up(settings)
    machines = provider.status(settings)
    assert [(m.name, m.extra["status"]) for m in machines] == [
        ("mlstack-prodserver", "ACTIVE"),
        ("mlstack-devserver", "ACTIVE"),
    ]


def test_application_credentials_from_os_variables(cloud, provider, settings, monkeypatch):
    monkeypatch.setenv("OS_AUTH_TYPE", "v3applicationcredential")
    monkeypatch.setenv("OS_AUTH_URL", "https://keystone.example.test/v3")
    monkeypatch.setenv("OS_APPLICATION_CREDENTIAL_ID", "appcred-id")
    monkeypatch.setenv("OS_APPLICATION_CREDENTIAL_SECRET", "appcred-secret")
    monkeypatch.setenv("OS_REGION_NAME", "RegionOne")
    monkeypatch.setenv("OS_IDENTITY_API_VERSION", "3")

    provider.up(dataclasses.replace(settings, cloud=None))

    token = cloud.requests("POST", r"/v3/auth/tokens$")[0].body["auth"]["identity"]
    assert token["methods"] == ["application_credential"]
    assert token["application_credential"] == {"id": "appcred-id", "secret": "appcred-secret"}
    assert len(server_posts(cloud)) == 2


def cidr_rules(cloud, name):
    group = cloud.group_by_name(name)
    return sorted(
        (r["port_range_min"], r["remote_ip_prefix"])
        for r in group["security_group_rules"]
        if r["direction"] == "ingress" and r["remote_ip_prefix"]
    )


def test_narrowing_allowed_cidr_removes_the_wider_rule(cloud, provider, settings):
    provider.up(dataclasses.replace(settings, allowed_cidr="0.0.0.0/0"))
    assert cidr_rules(cloud, "mlstack-prodserver") == [(22, "0.0.0.0/0"), (5100, "0.0.0.0/0")]
    cloud.calls.clear()

    provider.up(dataclasses.replace(settings, allowed_cidr="198.51.100.7/32"))

    assert cidr_rules(cloud, "mlstack-prodserver") == [(22, "198.51.100.7/32"), (5100, "198.51.100.7/32")]
    assert cidr_rules(cloud, "mlstack-devserver") == [(22, "198.51.100.7/32")]
    assert len(cloud.requests("DELETE", r"/security-group-rules/")) == 3
    cloud.calls.clear()
    provider.up(dataclasses.replace(settings, allowed_cidr="198.51.100.7/32"))
    assert mutations(cloud) == [], "reconciled rules stay as they are"


def test_allowed_cidr_is_required_on_openstack(cloud, provider, settings):
    with pytest.raises(ConfigError) as caught:
        provider.up(dataclasses.replace(settings, allowed_cidr=None))
    assert "--allowed-cidr" in str(caught.value) and "0.0.0.0/0" in str(caught.value)
    assert cloud.calls == [], "refused before the first request"


def test_state_is_kept_per_cloud_and_prefix(cloud, provider, settings):
    provider.up(settings)
    first = state_path(settings)
    assert first.name.startswith("openstack-fake-") and first.name.endswith("-mlstack.json")

    other = dataclasses.replace(settings, cloud="fake2")
    assert state_path(other) != first and not state_path(other).exists()
    with pytest.raises(ConfigError, match="not made by it"):
        provider.up(other)  # same project, same prefix, another record: not this deployment's servers
    assert json.loads(first.read_text())["servers"], "the first cloud's record is untouched"


def test_a_state_file_of_the_old_naming_is_taken_over(cloud, provider, settings):
    provider.up(settings)
    current = state_path(settings)
    legacy = settings.state_dir / "openstack-mlstack.json"
    current.replace(legacy)
    cloud.calls.clear()

    provider.up(settings)

    assert server_posts(cloud) == [] and not legacy.exists() and state_path(settings).exists()


@pytest.mark.parametrize(
    ("status", "action", "line"),
    [
        ("MIGRATING", None, "MIGRATING: waiting for it to become ACTIVE"),
        ("RESIZE", None, "RESIZE: waiting for it to become ACTIVE"),
        ("HARD_REBOOT", None, "HARD_REBOOT: waiting for it to become ACTIVE"),
        ("VERIFY_RESIZE", "confirmResize", "VERIFY_RESIZE: confirming its resize"),
        ("SHELVED", "unshelve", "SHELVED: unshelving it"),
        ("SHELVED_OFFLOADED", "unshelve", "SHELVED_OFFLOADED: unshelving it"),
        ("SUSPENDED", "resume", "SUSPENDED: resuming it"),
        ("PAUSED", "unpause", "PAUSED: unpausing it"),
        ("SHUTOFF", "os-start", "SHUTOFF: starting it"),
    ],
)
def test_an_existing_server_in_a_transient_state_is_waited_on_or_brought_back(
    cloud, provider, settings, capsys, status, action, line
):
    provider.up(settings)
    prod = cloud.server_by_name("mlstack-prodserver")
    prod.update({"status": status, "OS-EXT-STS:vm_state": status.lower()})
    cloud.calls.clear()
    capsys.readouterr()

    machines = provider.up(settings)

    assert prod["status"] == "ACTIVE" and machines[0].name == "mlstack-prodserver"
    assert server_posts(cloud) == []
    actions = [c.body for c in cloud.requests("POST", rf"/servers/{prod['id']}/action$")]
    actions = [body for body in actions if "os-getConsoleOutput" not in body]  # a read, though a POST
    assert actions == ([{action: None}] if action else [])
    out = capsys.readouterr().out
    assert f"mlstack-prodserver: {line}" in out
    assert "mlstack-prodserver: ACTIVE (" in out, "a progress line while it comes back"


def test_a_server_in_an_unknown_state_is_refused_with_the_states_it_handles(cloud, provider, settings):
    provider.up(settings)
    cloud.server_by_name("mlstack-devserver")["status"] = "RESCUE"
    cloud.calls.clear()

    with pytest.raises(ProviderError, match="mlstack-devserver is RESCUE") as caught:
        provider.up(settings)
    assert "SHELVED" in str(caught.value)
    assert mutations(cloud) == []


def test_a_zero_disk_flavor_boots_from_a_volume(cloud, provider, settings, capsys):
    provider.up(dataclasses.replace(settings, flavor="v1.nodisk", volume_size=30))

    for post in server_posts(cloud):
        body = post.body["server"]
        assert body["imageRef"] == ""
        assert body["block_device_mapping_v2"] == [
            {
                "boot_index": "0",
                "delete_on_termination": True,
                "destination_type": "volume",
                "uuid": "img-debian-12",
                "source_type": "image",
                "volume_size": "30",
            }
        ]
    assert "v1.nodisk has no disk: booting from a 30 GB volume" in capsys.readouterr().out


def test_boot_from_volume_when_asked_and_not_otherwise(cloud, provider, settings):
    provider.up(settings)
    assert all("block_device_mapping_v2" not in p.body["server"] for p in server_posts(cloud))
    provider.down(settings)
    cloud.calls.clear()
    provider.up(dataclasses.replace(settings, boot_from_volume=True))
    assert all(p.body["server"]["block_device_mapping_v2"] for p in server_posts(cloud))


def test_config_drive_and_availability_zone_reach_nova(cloud, provider, settings):
    provider.up(dataclasses.replace(settings, config_drive=True, availability_zone="az-2"))
    for post in server_posts(cloud):
        assert post.body["server"]["config_drive"] is True
        assert post.body["server"]["availability_zone"] == "az-2"


def test_access_fixed_uses_the_servers_own_addresses_and_no_floating_ip(cloud, provider, settings):
    cloud.routers.clear()  # a provider network: no router, no floating IPs

    machines = provider.up(dataclasses.replace(settings, access="fixed"))

    assert cloud.requests("POST", r"/floatingips$") == []
    prod, dev = machines
    assert prod.address.startswith("10.0.0.") and prod.address == prod.private_address
    assert dev.address.startswith("10.0.0.") and dev.proxy_jump is None


@pytest.mark.parametrize(("access", "floating_ips"), [("auto", 0), ("floating", 1)])
def test_a_public_fixed_address_needs_no_floating_ip_unless_access_floating(
    cloud, provider, settings, access, floating_ips
):
    for subnet in cloud.subnets:
        if subnet["id"] == "sub-private":
            subnet["cidr"] = "130.59.31.0/24"  # a routable provider network

    machines = provider.up(dataclasses.replace(settings, access=access))

    assert len(cloud.requests("POST", r"/floatingips$")) == floating_ips
    assert machines[0].address.startswith("130.59.31.") == (floating_ips == 0)


def test_the_network_mtu_is_reported_with_the_machines(cloud, provider, settings):
    machines = provider.up(settings)
    assert {m.extra.get("mtu") for m in machines} == {"1450"}


REAL_CONSOLE = Path(__file__).parents[2] / "unit/provisioner/data/cloud-init-output-local-machine.log"


def test_host_keys_printed_on_the_console_are_pinned_before_the_first_connection(
    cloud, provider, settings, waits
):
    """The console log answers what a real first boot printed (cloud-init 25.1): its keys are pinned for
    the address each machine is reached at, and the waiter gets machines checked strictly."""
    cloud.console = REAL_CONSOLE.read_text()
    keys = hostkeys.parse(cloud.console)

    machines = provider.up(settings)

    assert [m.host_key_checking for m in machines] == ["yes", "yes"]
    assert [m.host_key_checking for m in waits.calls[0][0]] == ["yes", "yes"]
    prod, dev = machines
    assert sorted(hostkeys.pinned(settings.known_hosts, prod.address)) == sorted(keys)
    assert sorted(hostkeys.pinned(settings.known_hosts, dev.address)) == sorted(keys), "behind prodserver"
    assert len(cloud.requests("POST", r"/servers/[^/]+/action$")) == 2, "one console read per server"

    cloud.calls.clear()
    provider.up(settings)  # reused: the pinned keys are kept, the console is not read again
    assert cloud.requests("POST", r"/servers/[^/]+/action$") == []


def test_host_keys_console_without_a_console_log_stops_with_exit_code_3(cloud, provider, settings, waits):
    cloud.console = None  # the cloud answers 501
    with pytest.raises(
        ProviderError, match=r"cannot be read: the cloud gives no console log \(HTTP 501\)"
    ) as caught:
        provider.up(dataclasses.replace(settings, host_keys="console"))
    assert caught.value.exit_code == 3
    assert waits.calls == [], "no SSH connection was tried"
