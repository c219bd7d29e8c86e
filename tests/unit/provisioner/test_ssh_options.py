"""The SSH command lines: host keys accepted once and then checked, in the project's known_hosts."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from provisioner import ssh
from provisioner.machine import Machine

KH = Path("/state/known_hosts")
KEY = Path("/keys/id_ed25519")
PROD = Machine(name="p-prodserver", role="prodserver", address="203.0.113.5", key_path=KEY)
DEV = Machine(
    name="p-devserver",
    role="devserver",
    address="10.0.0.7",
    key_path=KEY,
    proxy_jump="appuser@203.0.113.5:22",
)


def test_split_jump():
    assert ssh.split_jump("appuser@203.0.113.5:2222") == ("appuser", "203.0.113.5", 2222)
    assert ssh.split_jump("203.0.113.5") == ("appuser", "203.0.113.5", 22)
    assert ssh.split_jump("bob@host") == ("bob", "host", 22)


def test_command_checks_host_keys_in_the_project_file():
    argv = ssh.command(PROD, KH, "cloud-init", "status", "--wait")
    text = " ".join(argv)
    assert "StrictHostKeyChecking=accept-new" in text
    assert f"UserKnownHostsFile={KH}" in text
    assert "StrictHostKeyChecking=no" not in text
    assert "BatchMode=yes" in text
    assert argv[-4:] == ["appuser@203.0.113.5", "cloud-init", "status", "--wait"]
    assert ["-i", str(KEY)] == argv[argv.index("-i") : argv.index("-i") + 2]


def test_jump_host_gets_the_same_key_and_known_hosts():
    argv = ssh.command(DEV, KH)
    proxy = next(a for a in argv if a.startswith("ProxyCommand="))
    inner = shlex.split(proxy.removeprefix("ProxyCommand="))
    assert inner[0] == "ssh" and inner[-1] == "appuser@203.0.113.5"
    assert inner[inner.index("-W") : inner.index("-W") + 2] == ["-W", "%h:%p"]
    assert f"UserKnownHostsFile={KH}" in inner and str(KEY) in inner
    assert argv[-1] == "appuser@10.0.0.7"


def test_login_line_is_a_valid_shell_command_without_batch_mode():
    line = ssh.login_line(DEV, KH)
    argv = shlex.split(line)
    assert argv[0] == "ssh" and "BatchMode=yes" not in argv
    assert any(a.startswith("ProxyCommand=") for a in argv)


def test_common_options_for_ansible():
    assert "ProxyCommand" not in " ".join(ssh.common_options(PROD, KH))
    assert any(o.startswith("ProxyCommand=ssh ") for o in ssh.common_options(DEV, KH))


def test_forget_removes_only_that_host(tmp_path):
    known = tmp_path / "known_hosts"
    pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7e4T2lO3bH9f0Jt7JqZ2cV3l5v7n9p1r3t5v7x9z1B"
    known.write_text(f"[127.0.0.1]:2222 {pub}\n[127.0.0.1]:2223 {pub}\n203.0.113.5 {pub}\n")
    ssh.forget(known, "127.0.0.1", 2222)
    ssh.forget(known, "203.0.113.5")
    assert known.read_text() == f"[127.0.0.1]:2223 {pub}\n"
    assert not (tmp_path / "known_hosts.old").exists()
    ssh.forget(tmp_path / "absent", "127.0.0.1", 1)  # no file: nothing to do
    assert (
        subprocess.run(
            ["ssh-keygen", "-F", "[127.0.0.1]:2223", "-f", str(known)], capture_output=True
        ).returncode
        == 0
    )
