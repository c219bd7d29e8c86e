"""How the controller reaches a machine with SSH: one place for the options, shared by the waiter, the
inventory (ansible_ssh_common_args) and the summary's "how to log in" line.

Host keys live in the project's own known_hosts file and are never unchecked: a machine whose keys the
provider pinned from what cloud-init printed (provisioner/hostkeys.py) is reached with
StrictHostKeyChecking=yes; otherwise the first key seen is kept and checked afterwards (accept-new).
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from provisioner.machine import Machine


def split_jump(proxy_jump: str) -> tuple[str, str, int]:
    """``user@host:port`` (user and port optional) -> (user, host, port)."""
    user, _, hostport = proxy_jump.rpartition("@")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        host, port = hostport, "22"
    return user or "appuser", host, int(port)


def base_options(
    known_hosts: Path, key: Path | None, batch: bool = True, checking: str = "accept-new"
) -> list[str]:
    """Options every connection uses: batch mode, host keys checked in the project's known_hosts
    (``checking``: yes for pinned keys, accept-new otherwise)."""
    options = ["-o", "BatchMode=yes"] if batch else []
    options += [
        "-o",
        f"StrictHostKeyChecking={checking}",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "ConnectTimeout=10",
    ]
    if key is not None:
        options += ["-o", "IdentitiesOnly=yes", "-i", str(key)]
    return options


def proxy_command(proxy_jump: str, known_hosts: Path, key: Path | None, checking: str = "accept-new") -> str:
    """A ProxyCommand equivalent to ProxyJump that also uses our key and known_hosts for the jump host.

    (``-J`` alone would not pass ``-i`` and ``UserKnownHostsFile`` on to the jump connection.)
    """
    user, host, port = split_jump(proxy_jump)
    argv = ["ssh", *base_options(known_hosts, key, checking=checking), "-p", str(port), "-W", "%h:%p"]
    argv.append(f"{user}@{host}")
    return shlex.join(argv)


def _proxy_of(machine: Machine, known_hosts: Path) -> str:
    """The ProxyCommand of a machine behind a jump host (checked like the machine: a run pins every
    machine's keys, the jump host's too, or none)."""
    assert machine.proxy_jump is not None
    return proxy_command(machine.proxy_jump, known_hosts, machine.key_path, machine.host_key_checking)


def common_options(machine: Machine, known_hosts: Path) -> list[str]:
    """Options for ansible_ssh_common_args (no -i/-p/user: the inventory carries those)."""
    options = [
        "-o",
        f"StrictHostKeyChecking={machine.host_key_checking}",
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "IdentitiesOnly=yes",
    ]
    if machine.proxy_jump:
        options += ["-o", f"ProxyCommand={_proxy_of(machine, known_hosts)}"]
    return options


def command(machine: Machine, known_hosts: Path, *remote: str, batch: bool = True) -> list[str]:
    """The full ssh argv that logs in to ``machine`` (and runs ``remote`` when given)."""
    argv = ["ssh", *base_options(known_hosts, machine.key_path, batch, machine.host_key_checking)]
    argv += ["-p", str(machine.port)]
    if machine.proxy_jump:
        argv += ["-o", f"ProxyCommand={_proxy_of(machine, known_hosts)}"]
    argv.append(f"{machine.user}@{machine.address}")
    return argv + list(remote)


def login_line(machine: Machine, known_hosts: Path) -> str:
    """What a person types to log in (without BatchMode, so a passphrase prompt still works)."""
    return shlex.join(command(machine, known_hosts, batch=False))


def known_host_name(address: str, port: int = 22) -> str:
    """How known_hosts names a host: ``address`` on port 22, ``[address]:port`` otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


def forget(known_hosts: Path, address: str, port: int = 22) -> None:
    """Drop a host key we remembered (the machine was recreated, so its key changed)."""
    if not known_hosts.exists():
        return
    subprocess.run(
        ["ssh-keygen", "-R", known_host_name(address, port), "-f", str(known_hosts)],
        capture_output=True,
        check=False,
    )
    old = known_hosts.with_name(known_hosts.name + ".old")
    old.unlink(missing_ok=True)
