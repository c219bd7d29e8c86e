"""start_instances.py main() on the fake cloud: messages, exit codes, inventory, never a traceback."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
import requests_mock
import yaml
from fakecloud import AUTH_URL, PROJECT_ID, FakeCloud

from provisioner import cli
from provisioner.providers.openstack import OpenStackProvider

pytestmark = [
    pytest.mark.filterwarnings("ignore::openstack.warnings.OpenStackDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


def run(argv, factory=None):
    return cli.main(argv, provider_factory=factory or (lambda name: OpenStackProvider(poll_interval=0)))


def key_args(keypair):
    private, public = keypair
    return ["--public-key", str(public), "--private-key", str(private)]


def test_no_credentials_names_clouds_yaml_and_the_local_provider(isolated, keypair, capsys):
    with requests_mock.Mocker() as mocker:
        code = run(["--provider", "openstack", "--no-configure", *key_args(keypair)])
        assert mocker.call_count == 0, "nothing is sent without credentials"
    out, err = capsys.readouterr()
    assert code == 2
    assert "error: no OpenStack credentials found" in err
    assert "clouds.yaml" in err and "OS_CLOUD" in err and "--provider local" in err
    assert "Traceback" not in out + err


def test_unknown_cloud_name_is_a_config_error(clouds_yaml, keypair, capsys):
    code = run(["--provider", "openstack", "--cloud", "nosuchcloud", "--no-configure", *key_args(keypair)])
    err = capsys.readouterr().err
    assert code == 2
    assert "nosuchcloud" in err and "clouds.yaml" in err
    assert "Traceback" not in err


def test_keystone_401_is_reported(clouds_yaml, cloud, keypair, capsys):
    code = run(["--provider", "openstack", "--cloud", "wrongpass", "--no-configure", *key_args(keypair)])
    out, err = capsys.readouterr()
    assert code == 3
    assert "Keystone refused the credentials for cloud 'wrongpass' (401 Unauthorized)" in err
    assert "application credential" in err
    assert "Traceback" not in out + err
    assert cloud.requests("POST", "/servers") == []


def test_up_writes_the_inventory_and_prints_a_summary(clouds_yaml, cloud, keypair, isolated, capsys, waits):
    factory = lambda name: OpenStackProvider(waiter=waits, poll_interval=0)  # noqa: E731
    group_vars = isolated / "inventory" / "group_vars"
    group_vars.mkdir(parents=True)
    (group_vars / "all.yml").write_text("my_setting: kept\n")

    code = run(["--provider", "openstack", "--cloud", "fake", "--no-configure", *key_args(keypair)], factory)

    out, err = capsys.readouterr()
    assert code == 0, err
    hosts = yaml.safe_load((isolated / "inventory" / "hosts.yml").read_text())
    prod = hosts["all"]["children"]["prodserver"]["hosts"]["prodserver"]
    dev = hosts["all"]["children"]["devserver"]["hosts"]["devserver"]
    assert prod["ansible_user"] == "appuser"
    assert prod["ansible_host"].startswith("203.0.113.")
    assert prod["ansible_ssh_private_key_file"] == str(keypair[0])
    assert "ProxyCommand=ssh" in dev["ansible_ssh_common_args"]
    assert f"appuser@{prod['ansible_host']}" in dev["ansible_ssh_common_args"]
    assert (group_vars / "all.yml").read_text() == "my_setting: kept\n"
    assert f"http://{prod['ansible_host']}:5100/" in out
    assert "ssh " in out and "--destroy" in out
    assert "StrictHostKeyChecking=no" not in out

    # --status and --destroy through the same entry point
    assert run(["--provider", "openstack", "--cloud", "fake", "--status"], factory) == 0
    assert "mlstack-prodserver" in capsys.readouterr().out
    assert run(["--provider", "openstack", "--cloud", "fake", "--destroy"], factory) == 0
    assert not (isolated / "inventory" / "hosts.yml").exists()
    assert (group_vars / "all.yml").exists()
    assert cloud.servers == {}
    assert run(["--provider", "openstack", "--cloud", "fake", "--destroy"], factory) == 0
    assert "nothing to remove" in capsys.readouterr().out


def test_dry_run_prints_the_plan_and_touches_nothing(clouds_yaml, cloud, keypair, isolated, capsys):
    code = run(["--provider", "openstack", "--cloud", "fake", "--dry-run", *key_args(keypair)])
    out = capsys.readouterr().out
    assert code == 0
    assert "dry run" in out
    assert "server mlstack-prodserver: create" in out
    assert "configuration.yml" in out
    assert [c for c in cloud.calls if c.method in ("POST", "PUT", "DELETE") and "tokens" not in c.path] == []
    assert not (isolated / "inventory").exists()
    assert not (isolated / "state").exists()


def test_unknown_image_lists_close_matches(clouds_yaml, cloud, keypair, capsys):
    code = run(
        [
            "--provider",
            "openstack",
            "--cloud",
            "fake",
            "--image",
            "debain-12",
            "--no-configure",
            *key_args(keypair),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "image 'debain-12' not found; close matches: debian-12" in err


def test_quota_exceeded_exit_code_and_message(clouds_yaml, keypair, capsys, isolated):
    with requests_mock.Mocker() as mocker:
        FakeCloud(quota_exceeded=True).install(mocker)
        code = run(["--provider", "openstack", "--cloud", "fake", "--no-configure", *key_args(keypair)])
    err = capsys.readouterr().err
    assert code == 3
    assert "quota exceeded" in err
    assert "Traceback" not in err


def test_server_error_exit_code_and_message(clouds_yaml, keypair, capsys, isolated):
    with requests_mock.Mocker() as mocker:
        fake = FakeCloud(error_fault="No valid host was found.").install(mocker)
        code = run(["--provider", "openstack", "--cloud", "fake", "--no-configure", *key_args(keypair)])
    err = capsys.readouterr().err
    assert code == 3
    assert "went to ERROR; Nova says: No valid host was found." in err
    assert fake.requests("DELETE", "/servers/")


def test_inventory_dir_not_writable(clouds_yaml, cloud, keypair, isolated, capsys, waits, monkeypatch):
    blocker = isolated / "a-file"
    blocker.write_text("not a directory\n")
    monkeypatch.setenv("MLSTACK_INVENTORY_DIR", str(blocker / "inventory"))
    factory = lambda name: OpenStackProvider(waiter=waits, poll_interval=0)  # noqa: E731

    code = run(["--provider", "openstack", "--cloud", "fake", "--no-configure", *key_args(keypair)], factory)

    err = capsys.readouterr().err
    assert code == 2
    assert f"cannot write the inventory {blocker / 'inventory' / 'hosts.yml'}" in err
    assert "MLSTACK_INVENTORY_DIR" in err


@pytest.fixture
def silent_keystone():
    """A loopback socket that accepts connections and never answers (a Keystone that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/v3"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


@pytest.mark.timeout(60)
def test_keystone_that_never_answers_ends_with_a_clear_error(
    isolated, keypair, silent_keystone, monkeypatch, capsys
):
    clouds = isolated / "hanging-clouds.yaml"
    clouds.write_text(
        yaml.safe_dump(
            {
                "clouds": {
                    "hangs": {
                        "auth": {
                            "auth_url": silent_keystone,
                            "username": "demo",
                            "password": "secret",
                            "project_name": "demo",
                            "user_domain_name": "Default",
                            "project_domain_name": "Default",
                        },
                        "identity_api_version": 3,
                    }
                }
            }
        )
    )
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    started = time.monotonic()
    code = run(
        [
            "--provider",
            "openstack",
            "--cloud",
            "hangs",
            "--api-timeout",
            "1",
            "--api-retries",
            "1",
            "--no-configure",
            *key_args(keypair),
        ]
    )
    print(f"the launcher gave up after {time.monotonic() - started:.1f}s")
    out, err = capsys.readouterr()
    assert f"Connecting to {silent_keystone}" in out
    assert code == 3, err
    assert f"no answer from cloud 'hangs' ({silent_keystone}) within 1s" in err
    assert "--api-timeout" in err
    assert "Traceback" not in out + err


HORIZON_CLOUDS_YAML = f"""\
# This is a clouds.yaml file, which can be used by OpenStack tools as a source
# of configuration on how to connect to a cloud. (Horizon leaves the password out.)
clouds:
  openstack:
    auth:
      auth_url: {AUTH_URL}
      username: "demo"
      project_id: {PROJECT_ID}
      project_name: "demo"
      user_domain_name: "Default"
    region_name: "RegionOne"
    interface: "public"
    identity_api_version: 3
"""


def use_clouds_yaml(isolated, monkeypatch, text):
    path = isolated / "clouds.yaml"
    path.write_text(text)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    return path


def test_horizon_clouds_yaml_without_password_says_what_to_add(isolated, keypair, monkeypatch, capsys):
    use_clouds_yaml(isolated, monkeypatch, HORIZON_CLOUDS_YAML)
    with requests_mock.Mocker() as mocker:
        code = run(["--provider", "openstack", "--cloud", "openstack", "--no-configure", *key_args(keypair)])
        assert mocker.call_count == 0, "nothing is sent without a password"
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "error: cloud 'openstack' has no password" in err
    assert "OS_PASSWORD" in err and "password:" in err
    assert "unexpected" not in err and "Traceback" not in out + err


def test_horizon_clouds_yaml_takes_os_password(isolated, keypair, monkeypatch, capsys, cloud, waits):
    use_clouds_yaml(isolated, monkeypatch, HORIZON_CLOUDS_YAML)
    monkeypatch.setenv("OS_PASSWORD", "secret")
    factory = lambda name: OpenStackProvider(waiter=waits, poll_interval=0)  # noqa: E731
    code = run(["--provider", "openstack", "--cloud", "openstack", "--status"], factory)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"Connecting to {AUTH_URL}" in out
    tokens = cloud.requests("POST", "/v3/auth/tokens")
    assert tokens[0].body["auth"]["identity"]["password"]["user"]["password"] == "secret"


def test_yaml_error_in_clouds_yaml_names_the_file_and_line(isolated, keypair, monkeypatch, capsys):
    broken = HORIZON_CLOUDS_YAML.replace('      username: "demo"', '     username: "demo"')
    path = use_clouds_yaml(isolated, monkeypatch, broken)
    code = run(["--provider", "openstack", "--cloud", "openstack", "--no-configure", *key_args(keypair)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {path}, line 7" in err and "not valid YAML" in err
    assert "not found" not in err


def test_keystoneauth_reason_is_kept_in_other_config_errors(isolated, keypair, monkeypatch, capsys):
    text = f"""\
clouds:
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: {AUTH_URL}
      application_credential_id: "abc"
"""
    use_clouds_yaml(isolated, monkeypatch, text)
    code = run(["--provider", "openstack", "--cloud", "appcred", "--no-configure", *key_args(keypair)])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: the credentials of cloud 'appcred' are incomplete: You must provide an auth secret." in err
    assert "Traceback" not in err


def test_openstack_without_allowed_cidr_asks_for_it(clouds_yaml, keypair, monkeypatch, capsys):
    monkeypatch.delenv("MLSTACK_ALLOWED_CIDR")
    with requests_mock.Mocker() as mocker:
        code = run(["--provider", "openstack", "--cloud", "fake", "--no-configure", *key_args(keypair)])
        assert mocker.call_count == 0, "refused before the first request"
    err = capsys.readouterr().err
    assert code == 2
    assert "--allowed-cidr is not set" in err and "/32" in err and "--allowed-cidr 0.0.0.0/0" in err
