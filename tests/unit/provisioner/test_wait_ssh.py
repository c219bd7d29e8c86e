"""Waiting for SSH and cloud-init.

The SSH banner check runs against a real TCP server on 127.0.0.1. This host has no sshd, so the
``cloud-init status --wait`` step runs a stand-in ``ssh`` program (first on PATH) that answers like ssh
and cloud-init do: exit 255 while the login is not possible yet, then 0 with "status: done", or 1 with an
error. The real ssh path is exercised by the local-machines tests.
"""

from __future__ import annotations

import dataclasses
import shlex
import socket
import threading
from pathlib import Path

import pytest

from provisioner import wait
from provisioner.errors import ProviderError, WaitTimeout
from provisioner.machine import Machine
from provisioner.settings import Settings


@pytest.fixture
def banner_server():
    """A TCP server on 127.0.0.1 that greets like sshd; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake_ssh(tmp_path, monkeypatch):
    """Put a stand-in ssh first on PATH; ``script(codes)`` sets its exit codes for successive calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "ssh-calls.log"
    plan = tmp_path / "plan"
    program = bin_dir / "ssh"
    program.write_text(
        "#!/bin/bash\n"
        f'echo "$*" >> {log}\n'
        f"n=$(wc -l < {log})\n"
        f'line=$(sed -n "${{n}}p" {plan}); [ -n "$line" ] || line=$(tail -n 1 {plan})\n'
        "code=${line%% *}; text=${line#* }\n"
        'if [ "$code" = 255 ]; then echo "$text" >&2; else echo "$text"; fi\n'
        'exit "$code"\n'
    )
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(wait, "RETRY_PAUSE", 0.01)

    def script(*lines: str) -> Path:
        plan.write_text("\n".join(lines) + "\n")
        return log

    return script


def machine(port: int, **kw) -> Machine:
    return Machine(
        name="t-prodserver", role="prodserver", address="127.0.0.1", port=port, key_path=Path("/k/id"), **kw
    )


def settings(tmp_path, **kw) -> Settings:
    return dataclasses.replace(Settings(state_dir=tmp_path / "state"), **kw)


def test_banner(banner_server):
    assert wait.ssh_banner("127.0.0.1", banner_server).startswith("SSH-2.0-OpenSSH")
    assert wait.ssh_banner("127.0.0.1", free_port(), timeout=0.5) is None


def test_port_timeout_names_the_host(tmp_path):
    port = free_port()
    lines: list[str] = []
    with pytest.raises(WaitTimeout) as failure:
        wait.wait_for_ssh_port(machine(port), timeout=0.3, progress=lines.append)
    assert f"prodserver (t-prodserver): no SSH banner at 127.0.0.1:{port}" in failure.value.message
    assert "security group" in failure.value.hint


def test_cloud_init_done_after_login_becomes_possible(tmp_path, fake_ssh):
    log = fake_ssh(
        "255 appuser@127.0.0.1: Permission denied (publickey).",
        "255 appuser@127.0.0.1: Permission denied (publickey).",
        "0 status: done",
    )
    lines: list[str] = []
    wait.wait_for_cloud_init(machine(2222), settings(tmp_path), progress=lines.append)
    calls = log.read_text().splitlines()
    assert len(calls) == 3
    argv = shlex.split(calls[-1])
    assert argv[-4:] == ["appuser@127.0.0.1", "cloud-init", "status", "--wait"]
    assert "StrictHostKeyChecking=accept-new" in argv
    assert f"UserKnownHostsFile={tmp_path / 'state' / 'known_hosts'}" in argv
    assert any("cloud-init done" in line for line in lines)


def test_cloud_init_error_says_how_to_inspect(tmp_path, fake_ssh):
    fake_ssh("1 status: error")
    with pytest.raises(ProviderError) as failure:
        wait.wait_for_cloud_init(machine(2222), settings(tmp_path), progress=lambda _: None)
    assert "prodserver (t-prodserver): cloud-init reported an error: status: error" in failure.value.message
    hint = failure.value.hint
    assert "ssh " in hint and "-p 2222" in hint and "appuser@127.0.0.1" in hint
    assert "cloud-init status --long" in hint


def test_cloud_init_timeout_names_the_host_and_the_ssh_command(tmp_path, fake_ssh):
    fake_ssh("255 ssh: connect to host 127.0.0.1 port 2222: Connection refused")
    with pytest.raises(WaitTimeout) as failure:
        wait.wait_for_cloud_init(
            machine(2222), settings(tmp_path, cloud_init_timeout=0.5), progress=lambda _: None
        )
    assert "t-prodserver" in failure.value.message and "within 0s" not in failure.value.message
    assert "Connection refused" in failure.value.message
    assert "inspect it with: ssh " in failure.value.hint


def test_changed_host_key_stops_at_once(tmp_path, fake_ssh):
    log = fake_ssh("255 @@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@")
    with pytest.raises(ProviderError, match="host key differs") as failure:
        wait.wait_for_cloud_init(machine(2222), settings(tmp_path), progress=lambda _: None)
    assert "ssh-keygen -R '[127.0.0.1]:2222'" in failure.value.hint
    assert len(log.read_text().splitlines()) == 1


def test_wait_for_machines_forgets_old_host_keys_of_new_machines(tmp_path, fake_ssh, banner_server):
    fake_ssh("0 status: done")
    conf = settings(tmp_path)
    conf.state_dir.mkdir()
    pub = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7e4T2lO3bH9f0Jt7JqZ2cV3l5v7n9p1r3t5v7x9z1B"
    conf.known_hosts.write_text(f"[127.0.0.1]:{banner_server} {pub}\n[127.0.0.1]:1 {pub}\n")
    reused = dataclasses.replace(
        machine(1), name="t-devserver", role="devserver", proxy_jump="appuser@127.0.0.1:1"
    )

    wait.wait_for_machines(
        [machine(banner_server), reused], conf, new={"t-prodserver"}, progress=lambda _: None
    )

    assert conf.known_hosts.read_text() == f"[127.0.0.1]:1 {pub}\n"
