"""Worker machines on OpenStack (--workers N), through the real openstacksdk against the fake cloud:
what is sent to create them, the security groups, re-runs, scale-down (drain first) and --destroy."""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import pytest
import yaml
from fakecloud import PRIVATE_NET, USER_ID, state_path

from provisioner import cli
from provisioner.providers.openstack import OpenStackProvider

pytestmark = [
    pytest.mark.filterwarnings("ignore::openstack.warnings.OpenStackDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]
FIXTURES = Path(__file__).parent / "fixtures"
MUTATING = ("POST", "PUT", "DELETE", "PATCH")
NAMES = ["mlstack-prodserver", "mlstack-devserver", "mlstack-worker-1", "mlstack-worker-2"]


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


def ingress(cloud, group):
    """(port, source) of the group's ingress rules; source is a CIDR or ``group:<name>``."""
    names = {g["id"]: g["name"] for g in cloud.security_groups.values()}
    return sorted(
        (r["port_range_min"], r["remote_ip_prefix"] or f"group:{names[r['remote_group_id']]}")
        for r in group["security_group_rules"]
        if r["direction"] == "ingress"
    )


def server_id(cloud, name):
    return cloud.server_by_name(name)["id"]


def test_two_workers_are_requested_with_prodservers_cloud_init_and_no_floating_ip(
    cloud, provider, settings, waits
):
    machines = provider.up(dataclasses.replace(settings, workers=2))

    posts = server_posts(cloud)
    assert sorted(p.body["server"]["name"] for p in posts) == sorted(NAMES)
    public_key = settings.public_key.read_text().strip()
    for number in (1, 2):
        body = next(p.body["server"] for p in posts if p.body["server"]["name"] == f"mlstack-worker-{number}")
        user_data = base64.b64decode(body["user_data"]).decode()
        assert user_data.startswith("#cloud-config\n")
        config = yaml.safe_load(user_data)
        appuser = next(u for u in config["users"] if isinstance(u, dict) and u["name"] == "appuser")
        assert appuser["ssh_authorized_keys"] == [public_key]
        assert appuser["sudo"] == "ALL=(ALL) NOPASSWD:ALL"
        assert body["key_name"] == "mlstack-key"
        assert body["networks"] == [{"uuid": PRIVATE_NET}]
        workers_group = next(
            g["id"] for g in cloud.security_groups.values() if g["name"] == "mlstack-workers"
        )
        assert body["security_groups"] == [{"name": workers_group}]
        deployment = json.loads(state_path(settings).read_text())["deployment"]
        assert body["metadata"] == {
            "mlstack_prefix": "mlstack",
            "mlstack_role": "workers",
            "mlstack_deployment": deployment,
            "mlstack_user": USER_ID,
        }

    # every server is requested while the others still build: the four build concurrently
    last_post = max(i for i, c in enumerate(cloud.calls) if c in posts)
    for name in NAMES[:3]:
        polls = [
            c
            for c in cloud.calls[:last_post]
            if c.method == "GET" and c.path.endswith(server_id(cloud, name))
        ]
        assert len(polls) <= cloud.build_polls, f"{name} was ACTIVE before the last server was requested"

    fip_posts = cloud.requests("POST", r"/floatingips$")
    assert len(fip_posts) == 1, "one floating IP, for prodserver; none for the workers"
    assert len(cloud.floating_ips) == 1

    prod_group = cloud.group_by_name("mlstack-prodserver")
    workers_group = cloud.group_by_name("mlstack-workers")
    assert ingress(cloud, workers_group) == [(22, "group:mlstack-prodserver")]
    prod_rules = ingress(cloud, prod_group)
    assert (5672, "group:mlstack-workers") in prod_rules
    assert [r for r in prod_rules if r[0] == 5672] == [(5672, "group:mlstack-workers")], (
        "RabbitMQ is reachable from the workers' group only, never from allowed_cidr"
    )
    assert ingress(cloud, cloud.group_by_name("mlstack-devserver")) == sorted(
        [(22, "198.51.100.0/24"), (22, "group:mlstack-prodserver")]
    )

    assert [m.name for m in machines] == NAMES
    prod = machines[0]
    for worker in machines[2:]:
        assert worker.role == "workers"
        assert worker.address == worker.private_address
        assert worker.private_address.startswith("10.0.0.")
        assert worker.proxy_jump == f"appuser@{prod.address}:22"
        assert worker.key_path == settings.private_key
    assert waits.calls == [(machines, set(NAMES))]

    state = json.loads(state_path(settings).read_text())
    assert set(state["servers"]) == {"prodserver", "devserver", "worker-1", "worker-2"}
    assert set(state["security_groups"]) == {"prodserver", "devserver", "workers"}


def test_no_workers_means_no_workers_group_and_no_rabbitmq_rule(cloud, provider, settings):
    provider.up(settings)
    assert cloud.group_by_name("mlstack-workers") is None
    assert all(port != 5672 for port, _ in ingress(cloud, cloud.group_by_name("mlstack-prodserver")))


def test_a_rerun_with_the_same_number_changes_nothing(cloud, provider, settings, waits):
    two = dataclasses.replace(settings, workers=2)
    first = provider.up(two)
    cloud.calls.clear()

    second = provider.up(two)

    assert server_posts(cloud) == []
    assert mutations(cloud) == [], f"a re-run must not change the cloud: {mutations(cloud)}"
    assert second == first
    assert provider.surplus(two) == []
    assert waits.calls[-1][1] == set()


def test_scaling_up_adds_only_the_missing_worker(cloud, provider, settings):
    provider.up(dataclasses.replace(settings, workers=1))
    cloud.calls.clear()

    machines = provider.up(dataclasses.replace(settings, workers=2))

    assert [p.body["server"]["name"] for p in server_posts(cloud)] == ["mlstack-worker-2"]
    assert [m.name for m in machines] == NAMES


def launch(argv, provider_factory):
    return cli.main(["--provider", "openstack", "--cloud", "fake", *argv], provider_factory=provider_factory)


class Observed(OpenStackProvider):
    """The real provider; notes what the drain recorded at the moment workers are removed."""

    def __init__(self, record_dir: Path, **kwargs) -> None:
        super().__init__(**kwargs)
        self.record_dir = record_dir
        self.removals: list[tuple[list[str], dict[str, str]]] = []

    def remove_workers(self, settings, machines):
        drained = {p.name: p.read_text().strip() for p in self.record_dir.iterdir()}
        self.removals.append(([m.name for m in machines], drained))
        super().remove_workers(settings, machines)


@pytest.fixture
def drain_record(isolated, monkeypatch):
    record = isolated / "drained"
    record.mkdir()
    monkeypatch.setenv("DRAIN_RECORD_DIR", str(record))
    return record


def key_args(settings):
    return ["--public-key", str(settings.public_key), "--private-key", str(settings.private_key)]


def test_scaling_down_drains_then_deletes_the_highest_numbered_worker_only(
    cloud, settings, waits, drain_record, monkeypatch, isolated, capsys
):
    monkeypatch.setenv("MLSTACK_DRAIN_PLAYBOOK", str(FIXTURES / "drain-record.yml"))
    provider = Observed(drain_record, waiter=waits, poll_interval=0)
    factory = lambda name: provider  # noqa: E731
    args = ["--no-configure", *key_args(settings)]
    assert launch(["--workers", "2", *args], factory) == 0
    hosts = yaml.safe_load((isolated / "inventory" / "hosts.yml").read_text())["all"]["children"]
    assert sorted(hosts["workers"]["hosts"]) == ["mlstack-worker-1", "mlstack-worker-2"]
    worker_2 = hosts["workers"]["hosts"]["mlstack-worker-2"]
    assert worker_2["private_address"] == worker_2["ansible_host"]
    assert "ProxyCommand=ssh" in worker_2["ansible_ssh_common_args"]
    kept = {name: server_id(cloud, name) for name in NAMES[:3]}
    removed = server_id(cloud, "mlstack-worker-2")
    cloud.calls.clear()
    capsys.readouterr()

    assert launch(["--workers", "1", *args], factory) == 0

    out = capsys.readouterr().out
    assert "draining, then removing mlstack-worker-2" in out
    assert provider.removals == [(["mlstack-worker-2"], {"mlstack-worker-2": "mlstack-worker-2"})], (
        "the drain ran on worker-2 alone, and before it was removed"
    )
    assert [c.path for c in mutations(cloud)] == [f"/v2.1/servers/{removed}"]
    assert {s["name"]: s["id"] for s in cloud.servers.values()} == kept
    hosts = yaml.safe_load((isolated / "inventory" / "hosts.yml").read_text())["all"]["children"]
    assert list(hosts["workers"]["hosts"]) == ["mlstack-worker-1"]
    state = json.loads(state_path(settings).read_text())
    assert set(state["servers"]) == {"prodserver", "devserver", "worker-1"}

    cloud.calls.clear()
    assert launch(["--workers", "1", *args], factory) == 0
    assert mutations(cloud) == [], "the same number again is a no-op"
    assert len(provider.removals) == 1


def test_scaling_to_zero_removes_highest_first(cloud, settings, waits, drain_record, monkeypatch, isolated):
    monkeypatch.setenv("MLSTACK_DRAIN_PLAYBOOK", str(FIXTURES / "drain-record.yml"))
    provider = Observed(drain_record, waiter=waits, poll_interval=0)
    factory = lambda name: provider  # noqa: E731
    args = ["--no-configure", *key_args(settings)]
    assert launch(["--workers", "3", *args], factory) == 0
    ids = {n: server_id(cloud, f"mlstack-worker-{n}") for n in (1, 2, 3)}
    cloud.calls.clear()

    assert launch(["--workers", "0", *args], factory) == 0

    deletes = [c.path for c in cloud.requests("DELETE", r"/servers/")]
    assert deletes == [f"/v2.1/servers/{ids[n]}" for n in (3, 2, 1)]
    names = ["mlstack-worker-3", "mlstack-worker-2", "mlstack-worker-1"]
    assert provider.removals == [(names, dict.fromkeys(names, ",".join(names)))]
    hosts = yaml.safe_load((isolated / "inventory" / "hosts.yml").read_text())["all"]["children"]
    assert hosts["workers"] == {"hosts": {}}


def test_without_a_drain_playbook_the_launcher_says_so_and_removes(
    cloud, settings, waits, isolated, monkeypatch, capsys
):
    missing = isolated / "no-such" / "drain-workers.yml"
    monkeypatch.setenv("MLSTACK_DRAIN_PLAYBOOK", str(missing))
    factory = lambda name: OpenStackProvider(waiter=waits, poll_interval=0)  # noqa: E731
    args = ["--no-configure", *key_args(settings)]
    assert launch(["--workers", "2", *args], factory) == 0
    capsys.readouterr()

    assert launch(["--workers", "1", *args], factory) == 0

    out = capsys.readouterr().out
    assert f"no drain playbook present ({missing})" in out
    assert cloud.server_by_name("mlstack-worker-2") is None
    assert cloud.server_by_name("mlstack-worker-1") is not None


def test_a_failed_drain_removes_nothing(cloud, settings, waits, isolated, monkeypatch, capsys):
    monkeypatch.setenv("MLSTACK_DRAIN_PLAYBOOK", str(FIXTURES / "drain-fail.yml"))
    factory = lambda name: OpenStackProvider(waiter=waits, poll_interval=0)  # noqa: E731
    args = ["--no-configure", *key_args(settings)]
    assert launch(["--workers", "2", *args], factory) == 0
    cloud.calls.clear()
    capsys.readouterr()

    code = launch(["--workers", "1", *args], factory)

    err = capsys.readouterr().err
    assert code == 5
    assert "draining failed" in err and "mlstack-worker-2" in err and "no worker machine was removed" in err
    assert "Traceback" not in err
    assert mutations(cloud) == []
    assert cloud.server_by_name("mlstack-worker-2") is not None
    hosts = yaml.safe_load((isolated / "inventory" / "hosts.yml").read_text())["all"]["children"]
    assert "mlstack-worker-2" in hosts["workers"]["hosts"], "the inventory still lists what still exists"


def test_a_worker_that_is_not_active_is_removed_without_draining(
    cloud, settings, waits, isolated, monkeypatch, capsys
):
    monkeypatch.setenv("MLSTACK_DRAIN_PLAYBOOK", str(FIXTURES / "drain-fail.yml"))
    factory = lambda name: OpenStackProvider(waiter=waits, poll_interval=0)  # noqa: E731
    args = ["--no-configure", *key_args(settings)]
    assert launch(["--workers", "2", *args], factory) == 0
    cloud.server_by_name("mlstack-worker-2")["status"] = "SHUTOFF"
    capsys.readouterr()

    assert launch(["--workers", "1", *args], factory) == 0

    assert "mlstack-worker-2 is not running: nothing to drain" in capsys.readouterr().out
    assert cloud.server_by_name("mlstack-worker-2") is None


def test_destroy_deletes_the_workers_and_their_group(cloud, provider, settings):
    two = dataclasses.replace(settings, workers=2)
    provider.up(two)
    servers = {s["id"] for s in cloud.servers.values()}
    groups = {g["id"] for g in cloud.security_groups.values()}
    fips = {f["id"] for f in cloud.floating_ips.values()}
    cloud.calls.clear()

    provider.down(settings)  # workers=0 in these settings: destroy takes every worker all the same

    deleted = {c.path for c in cloud.requests("DELETE", ".")}
    expected = {f"/v2.1/servers/{i}" for i in servers}
    expected |= {f"/v2.0/security-groups/{i}" for i in groups}
    expected |= {f"/v2.0/floatingips/{i}" for i in fips}
    expected |= {"/v2.1/os-keypairs/mlstack-key"}
    assert deleted == expected
    assert cloud.servers == {} and cloud.security_groups == {} and cloud.floating_ips == {}
    assert not state_path(settings).exists()


def test_destroy_leaves_a_worker_named_like_ours_that_the_launcher_did_not_make(cloud, provider, settings):
    provider.up(dataclasses.replace(settings, workers=1))
    stranger = cloud.add_server("mlstack-worker-7")  # no mlstack_prefix metadata, not in the state file

    provider.down(settings)

    assert list(cloud.servers) == [stranger["id"]]


def test_status_and_dry_run_show_the_workers(cloud, provider, settings):
    text = "\n".join(provider.plan(dataclasses.replace(settings, workers=2)))
    assert "server mlstack-worker-1: create (image debian-12, flavor m1.medium, network private, " in text
    assert "cloud-init prod-cloud-cfg.yaml" in text
    assert "server mlstack-worker-2: create" in text
    assert "security group mlstack-workers: create (tcp 22 from mlstack-prodserver)" in text
    assert "tcp 5672 from mlstack-workers" in text
    assert "workers: no floating IP, reached through prodserver" in text
    assert mutations(cloud) == []

    provider.up(dataclasses.replace(settings, workers=2))
    status = provider.status(settings)
    assert [(m.name, m.role, m.extra["status"]) for m in status][2:] == [
        ("mlstack-worker-1", "workers", "ACTIVE"),
        ("mlstack-worker-2", "workers", "ACTIVE"),
    ]
    cloud.calls.clear()
    text = "\n".join(provider.plan(dataclasses.replace(settings, workers=1)))
    assert "server mlstack-worker-1: reuse (ACTIVE)" in text
    assert "server mlstack-worker-2: drain, then delete" in text
    down = provider.plan(dataclasses.replace(settings, destroy=True))
    assert down[:2] == ["delete server mlstack-worker-2 (ACTIVE)", "delete server mlstack-worker-1 (ACTIVE)"]
    assert "delete security group mlstack-workers" in down
    assert mutations(cloud) == []


def test_dry_run_through_the_command_line_names_the_drain(
    cloud, settings, waits, isolated, monkeypatch, capsys
):
    monkeypatch.setenv("MLSTACK_DRAIN_PLAYBOOK", str(FIXTURES / "drain-record.yml"))
    factory = lambda name: OpenStackProvider(waiter=waits, poll_interval=0)  # noqa: E731
    assert launch(["--workers", "2", "--no-configure", *key_args(settings)], factory) == 0
    cloud.calls.clear()
    capsys.readouterr()

    assert launch(["--workers", "1", "--dry-run", *key_args(settings)], factory) == 0

    out = capsys.readouterr().out
    assert "server mlstack-worker-2: drain, then delete" in out
    assert f"drain mlstack-worker-2 with {FIXTURES / 'drain-record.yml'} (limited to them)" in out
    assert mutations(cloud) == []
    assert cloud.server_by_name("mlstack-worker-2") is not None


def test_a_rerun_without_workers_keeps_the_workers_that_exist(cloud, settings, waits, isolated, capsys):
    """No --workers means "keep what exists": no drain, no DELETE, no POST, both stay in the inventory."""
    factory = lambda name: OpenStackProvider(waiter=waits, poll_interval=0)  # noqa: E731
    args = ["--no-configure", *key_args(settings)]
    assert launch(["--workers", "2", *args], factory) == 0
    ids = {s["name"]: s["id"] for s in cloud.servers.values()}
    cloud.calls.clear()
    capsys.readouterr()

    assert launch(args, factory) == 0

    out = capsys.readouterr().out
    assert "Keeping the 2 worker machine(s) that exist" in out
    assert "draining" not in out.lower()
    assert mutations(cloud) == [], f"a re-run without --workers must change nothing: {mutations(cloud)}"
    assert {s["name"]: s["id"] for s in cloud.servers.values()} == ids
    hosts = yaml.safe_load((isolated / "inventory" / "hosts.yml").read_text())["all"]["children"]
    assert sorted(hosts["workers"]["hosts"]) == ["mlstack-worker-1", "mlstack-worker-2"]
    for line in ("python start_instances.py --provider openstack --prefix mlstack --status", "--destroy"):
        assert line in out


def test_the_provider_alone_keeps_the_workers_when_the_number_is_unset(cloud, provider, settings):
    first = provider.up(dataclasses.replace(settings, workers=2))
    cloud.calls.clear()
    assert settings.workers is None

    again = provider.up(settings)

    assert again == first
    assert mutations(cloud) == []
    assert provider.surplus(settings) == []
    plan = "\n".join(provider.plan(settings))
    assert "server mlstack-worker-2: reuse (ACTIVE)" in plan and "drain" not in plan
    assert [m.name for m in provider.up(dataclasses.replace(settings, workers=None, prefix="other"))] == [
        "other-prodserver",
        "other-devserver",
    ], "a prefix without workers gets none"


def test_the_drain_run_gets_the_extra_variables_but_keeps_its_own_drain_hosts(
    cloud, settings, waits, drain_record, monkeypatch
):
    monkeypatch.setenv("MLSTACK_DRAIN_PLAYBOOK", str(FIXTURES / "drain-note.yml"))
    factory = lambda name: OpenStackProvider(waiter=waits, poll_interval=0)  # noqa: E731
    args = ["--no-configure", *key_args(settings)]
    assert launch(["--workers", "2", *args], factory) == 0

    extra = ["-e", "drain_note=hello", "-e", "drain_hosts=not-these"]
    assert launch(["--workers", "1", *extra, *args], factory) == 0

    assert (drain_record / "mlstack-worker-2").read_text() == "hello mlstack-worker-2\n"
    assert cloud.server_by_name("mlstack-worker-2") is None
