"""Local machines, for real: systemd containers booted by the local provider, reached over SSH on loopback."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from provisioner import hostkeys, keys, ssh
from provisioner.errors import ProviderError
from provisioner.providers.local import LABEL_PREFIX, LABEL_ROLE, SEED_MOUNT, network_name, volume_name
from tests.machines_fixtures import LocalMachines

pytestmark = [pytest.mark.docker, pytest.mark.machines]

ROLES = ("prodserver", "devserver")


def inspect(name: str) -> dict:
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def test_both_machines_run_with_the_contracted_shape(local_machines: LocalMachines):
    settings = local_machines.settings
    assert [m.role for m in local_machines.machines] == list(ROLES)
    for machine in local_machines.machines:
        info = inspect(machine.name)
        assert machine.name == f"{settings.prefix}-{machine.role}"
        assert info["State"]["Running"] is True
        assert info["Config"]["Labels"][LABEL_PREFIX] == settings.prefix
        assert info["Config"]["Labels"][LABEL_ROLE] == machine.role
        host = info["HostConfig"]
        assert host["Privileged"] is False
        assert {"SYS_RESOURCE", "CAP_SYS_RESOURCE"} & set(host["CapDrop"])
        assert {"ALL", "CAP_ALL"} & set(host["CapAdd"])
        assert host["CgroupnsMode"] == "host"
        # Published on loopback only, and the record says where.
        ssh_bindings = host["PortBindings"]["22/tcp"]
        assert ssh_bindings == [{"HostIp": "127.0.0.1", "HostPort": str(machine.port)}]
        assert machine.address == "127.0.0.1"
        mounts = {m["Destination"]: m for m in info["Mounts"]}
        assert mounts["/var/lib/docker"]["Type"] == "volume"
        assert mounts["/var/lib/docker"]["Name"] == volume_name(settings.prefix, machine.role)
        assert mounts[SEED_MOUNT]["RW"] is False
        net = info["NetworkSettings"]["Networks"][network_name(settings.prefix)]
        assert machine.role in net["Aliases"]
        assert machine.private_address == net["IPAddress"]
    prod = local_machines["prodserver"]
    app_bindings = inspect(prod.name)["HostConfig"]["PortBindings"]["5100/tcp"]
    assert app_bindings == [{"HostIp": "127.0.0.1", "HostPort": str(prod.app_port)}]
    assert local_machines["devserver"].app_port is None
    assert "5100/tcp" not in inspect(local_machines["devserver"].name)["HostConfig"]["PortBindings"]


def test_systemd_is_pid_1_and_the_boot_is_clean(local_machines: LocalMachines):
    for role in ROLES:
        result = local_machines.docker_exec(role, "systemctl", "is-system-running", "--wait")
        failed = local_machines.docker_exec(role, "systemctl", "--failed", "--plain", "--no-legend")
        assert result.stdout.strip() == "running", failed.stdout
        assert local_machines.docker_exec(role, "cat", "/proc/1/comm").stdout.strip() == "systemd"


def test_cloud_init_is_done_from_the_nocloud_seed(local_machines: LocalMachines):
    for role in ROLES:
        result = local_machines.ssh(role, "cloud-init", "status", "--long")
        assert result.returncode == 0, result.stderr
        assert re.search(r"^status: done$", result.stdout, re.M), result.stdout
        assert "DataSourceNoCloud" in result.stdout
        assert SEED_MOUNT in result.stdout
        hostname = local_machines.ssh(role, "hostname").stdout.strip()
        assert hostname == role


def test_appuser_logs_in_with_the_generated_key_and_has_passwordless_sudo(local_machines: LocalMachines):
    for role in ROLES:
        result = local_machines.ssh(role, "sudo", "-n", "true", "&&", "id", "-un")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "appuser"


def test_appuser_was_made_by_cloud_init_not_baked_into_the_image(local_machines: LocalMachines):
    image = local_machines.settings.local_image
    passwd = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "cat", image, "/etc/passwd"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "appuser" not in passwd
    keys = subprocess.run(
        [
            "docker",
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            image,
            "-c",
            "ls /etc/ssh/ssh_host_* 2>/dev/null || true",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert keys.strip() == "", "host keys must be made per machine, not baked into the image"
    key_line = local_machines.settings.public_key.read_text().strip()
    authorized = local_machines.ssh("prodserver", "cat", ".ssh/authorized_keys").stdout
    assert key_line in authorized


def _askpass(tmp_path: Path, password: str) -> dict[str, str]:
    """An SSH_ASKPASS program that answers every prompt with ``password`` (a real password attempt)."""
    script = tmp_path / "askpass.sh"
    script.write_text(f"#!/bin/sh\necho '{password}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "SSH_ASKPASS": str(script), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}


PASSWORD_ONLY = (
    "-o",
    "BatchMode=no",
    "-o",
    "PubkeyAuthentication=no",
    "-o",
    "PreferredAuthentications=password,keyboard-interactive",
    "-o",
    "NumberOfPasswordPrompts=1",
)


def test_password_login_is_refused_even_with_the_right_password(local_machines: LocalMachines, tmp_path):
    password = "Correct-Horse-7"
    env = _askpass(tmp_path, password)
    for role in ROLES:
        for user in ("appuser", "root"):
            chpasswd = subprocess.run(
                ["docker", "exec", "-i", local_machines[role].name, "chpasswd"],
                input=f"{user}:{password}\n",
                capture_output=True,
                text=True,
                check=False,
            )
            assert chpasswd.returncode == 0, chpasswd.stderr
            try:
                argv = local_machines.ssh_argv(role, "true", user=user, options=PASSWORD_ONLY)
                result = subprocess.run(
                    argv, capture_output=True, text=True, env=env, timeout=60, check=False
                )
            finally:
                local_machines.docker_exec(role, "usermod", "--lock", user)
            assert result.returncode == 255
            # The server offers public keys only: no password or keyboard-interactive method at all.
            assert "Permission denied (publickey)" in result.stderr, result.stderr


def test_root_login_is_refused_even_with_an_authorized_key(local_machines: LocalMachines):
    key_line = local_machines.settings.public_key.read_text().strip()
    for role in ROLES:
        setup = local_machines.docker_exec(
            role,
            "sh",
            "-c",
            f"mkdir -p /root/.ssh && printf '%s\\n' '{key_line}' > /root/.ssh/authorized_keys",
        )
        assert setup.returncode == 0, setup.stderr
        try:
            result = local_machines.ssh(role, "true", user="root")
        finally:
            local_machines.docker_exec(role, "rm", "-f", "/root/.ssh/authorized_keys")
        assert result.returncode == 255
        assert "Permission denied" in result.stderr, result.stderr


def test_sshd_effective_configuration_refuses_passwords_and_root(local_machines: LocalMachines):
    for role in ROLES:
        result = local_machines.docker_exec(role, "sshd", "-T")
        assert result.returncode == 0, result.stderr
        effective = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
        assert effective["passwordauthentication"] == "no"
        assert effective["kbdinteractiveauthentication"] == "no"
        assert effective["permitrootlogin"] == "no"
        assert effective["pubkeyauthentication"] == "yes"


def test_devserver_reaches_prodserver_by_name(local_machines: LocalMachines):
    prod = local_machines["prodserver"]
    resolved = local_machines.ssh("devserver", "getent", "hosts", "prodserver")
    assert resolved.returncode == 0, resolved.stderr
    assert resolved.stdout.split()[0] == prod.private_address
    banner = local_machines.ssh("devserver", "timeout 5 bash -c 'head -c 8 < /dev/tcp/prodserver/22'")
    assert banner.stdout.startswith("SSH-2.0-"), banner.stderr


def test_docker_data_lives_on_the_machines_volume(local_machines: LocalMachines):
    result = local_machines.docker_exec(
        "prodserver", "findmnt", "--noheadings", "--output", "TARGET", "/var/lib/docker"
    )
    assert result.stdout.strip() == "/var/lib/docker", result.stderr
    fstype = local_machines.docker_exec(
        "prodserver", "stat", "-f", "-c", "%T", "/var/lib/docker"
    ).stdout.strip()
    assert fstype != "overlayfs", "Docker inside needs a non-overlay /var/lib/docker"


def test_a_second_up_reuses_the_running_machines(local_machines: LocalMachines):
    before = {
        m.name: (inspect(m.name)["Id"], inspect(m.name)["State"]["StartedAt"])
        for m in local_machines.machines
    }
    again = local_machines.provider.up(local_machines.settings)
    assert again == local_machines.machines  # same names, ports, addresses
    after = {m.name: (inspect(m.name)["Id"], inspect(m.name)["State"]["StartedAt"]) for m in again}
    assert after == before  # same containers, not even restarted


def test_up_starts_a_stopped_machine_and_keeps_its_ports(local_machines: LocalMachines):
    dev = local_machines["devserver"]
    container_id = inspect(dev.name)["Id"]
    subprocess.run(["docker", "stop", dev.name], capture_output=True, check=True)
    assert inspect(dev.name)["State"]["Running"] is False
    again = local_machines.provider.up(local_machines.settings)
    assert again == local_machines.machines
    assert inspect(dev.name)["Id"] == container_id
    assert inspect(dev.name)["State"]["Running"] is True
    result = local_machines.ssh("devserver", "sudo", "-n", "true")
    assert result.returncode == 0, result.stderr


def test_only_the_machines_own_network_sysctls_are_writable(local_machines: LocalMachines):
    for role in ROLES:
        net = local_machines.docker_exec(role, "sh", "-c", "test -w /proc/sys/net/ipv4/ip_forward && echo rw")
        assert net.stdout.strip() == "rw"
        kernel = local_machines.docker_exec(
            role, "sh", "-c", "test -w /proc/sys/kernel/pid_max && echo rw || echo ro"
        )
        assert kernel.stdout.strip() == "ro", (
            "a machine must not be able to change its host's kernel settings"
        )


@pytest.mark.slow
def test_docker_engine_runs_containers_inside_prodserver(local_machines: LocalMachines):
    install = local_machines.ssh(
        "prodserver",
        "sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive"
        " apt-get install -y -qq docker.io docker-cli",
        timeout=600,
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    base = "mlstack/base:trixie"
    save = subprocess.Popen(["docker", "save", base], stdout=subprocess.PIPE)
    load = subprocess.run(
        local_machines.ssh_argv("prodserver", "sudo", "docker", "load"),
        stdin=save.stdout,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    save.wait()
    assert load.returncode == 0, load.stderr
    nested = local_machines.ssh(
        "prodserver",
        f"sudo docker run --rm {base} cat /etc/debian_version"
        f" && sudo docker run -d --name probe -p 127.0.0.1:18080:80 {base} sleep 30 >/dev/null"
        " && sudo docker port probe 80/tcp; sudo docker rm -f probe >/dev/null",
    )
    assert nested.returncode == 0, nested.stderr
    version, published = nested.stdout.split()
    assert version.startswith("13.")  # the nested container's /etc/debian_version (trixie)
    assert published == "127.0.0.1:18080"
    info = local_machines.ssh("prodserver", "sudo docker info --format '{{.Driver}}'")
    assert info.stdout.strip() == "overlay2"


def test_reusing_machines_with_another_key_is_a_clear_error(local_machines: LocalMachines, tmp_path):
    other = keys.generate(tmp_path / "other")
    settings = dataclasses.replace(
        local_machines.settings, public_key=other.public_key, private_key=other.private_key
    )
    with pytest.raises(ProviderError, match="created for another SSH key") as caught:
        local_machines.provider.up(settings)
    assert "--destroy" in str(caught.value)


def test_host_keys_are_pinned_from_what_cloud_init_printed(local_machines: LocalMachines, tmp_path):
    """The provider read the keys cloud-init printed (keys_to_console) and pinned them before the first
    SSH connection: known_hosts holds exactly each machine's own host keys, and every connection checks
    them strictly (StrictHostKeyChecking=yes: a wrong key is refused, never replaced)."""
    known_hosts = local_machines.settings.known_hosts
    own = {}
    for machine in local_machines.machines:
        assert machine.host_key_checking == "yes", machine
        pub = local_machines.docker_exec(machine.role, "sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub").stdout
        own[machine.role] = sorted(" ".join(line.split()[:2]) for line in pub.splitlines())
        assert len(own[machine.role]) >= 2
        assert sorted(hostkeys.pinned(known_hosts, machine.address, machine.port)) == own[machine.role]
        argv = local_machines.ssh_argv(machine.role, "true")
        assert "StrictHostKeyChecking=yes" in argv

    prod, dev = local_machines["prodserver"], local_machines["devserver"]
    wrong = tmp_path / "known_hosts"  # devserver's keys under prodserver's name
    hostkeys.pin(wrong, prod.address, prod.port, own["devserver"])
    argv = ssh.command(prod, wrong, "true")
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode == 255
    assert "Host key verification failed" in refused.stderr
    assert sorted(hostkeys.pinned(wrong, prod.address, prod.port)) == own["devserver"], "not replaced"
    assert dev.host_key_checking == "yes"
