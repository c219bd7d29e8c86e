"""The record every provider returns, so the inventory and the runner never know which cloud they are on."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("prodserver", "devserver")
WORKER_ROLE = "workers"


@dataclass(frozen=True)
class Machine:
    """One server, ready for Ansible.

    name:        the provider's name for it (``<prefix>-prodserver``)
    role:        the inventory group it belongs to (``prodserver``, ``devserver``, ``workers``)
    address:     where the controller reaches SSH (a floating IP, or 127.0.0.1 for local machines)
    port:        SSH port at that address
    user:        the login user created by cloud-init (``appuser``)
    key_path:    the private key that logs in as ``user``
    private_address: the address peers use on the private network (may equal ``address``)
    app_port:    where the controller reaches the app's port 5100 (local machines publish it on loopback)
    proxy_jump:  ``user@host:port`` to reach this machine through another (no public address)
    host_key_checking: ssh's StrictHostKeyChecking: ``yes`` when the provider pinned the host keys cloud-init
                 printed (provisioner/hostkeys.py), else ``accept-new`` (the first key seen is kept)
    """

    name: str
    role: str
    address: str
    port: int = 22
    user: str = "appuser"
    key_path: Path | None = None
    private_address: str | None = None
    app_port: int | None = None
    proxy_jump: str | None = None
    host_key_checking: str = "accept-new"
    extra: dict[str, str] = field(default_factory=dict, compare=False)
