"""Find the SSH key pair that logs in as appuser, or generate a project-local ed25519 one.

Order: ``--public-key``/``--private-key`` when given; else the key this project generated before
(``<repo>/.ssh/id_ed25519``, git-ignored, so re-runs keep the key the servers already trust); else the
user's ``~/.ssh/id_ed25519``, ``id_ecdsa`` or ``id_rsa`` when it can be used without a prompt (no passphrase,
or an ssh-agent is running); else a new ``<repo>/.ssh/id_ed25519``.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from provisioner.cloudinit import check_public_key
from provisioner.errors import ConfigError
from provisioner.settings import REPO_ROOT, Settings

PROJECT_KEY_DIR = REPO_ROOT / ".ssh"
USER_KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")


@dataclass(frozen=True)
class KeyPair:
    """A private key and its public half; ``generated`` is True when this run created it."""

    private_key: Path
    public_key: Path
    generated: bool = False

    def public_text(self) -> str:
        """The public key as one line."""
        return check_public_key(self.public_key.read_text(encoding="utf-8"))


def _usable_without_prompt(private_key: Path) -> bool:
    """True when ssh can use the key non-interactively (unencrypted, or an agent may hold it)."""
    if os.environ.get("SSH_AUTH_SOCK"):
        return True
    result = subprocess.run(
        ["ssh-keygen", "-y", "-P", "", "-f", str(private_key)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0


def _checked(private_key: Path, public_key: Path, generated: bool = False) -> KeyPair:
    if not public_key.is_file():
        raise ConfigError(
            f"public key {public_key} does not exist", "pass --public-key PATH to an existing .pub file"
        )
    if not private_key.is_file():
        raise ConfigError(
            f"private key {private_key} (for {public_key}) does not exist",
            "pass --private-key PATH; Ansible logs in with it",
        )
    pair = KeyPair(private_key=private_key, public_key=public_key, generated=generated)
    pair.public_text()
    return pair


def generate(key_dir: Path = PROJECT_KEY_DIR) -> KeyPair:
    """Create ``key_dir/id_ed25519`` (mode 0600, no passphrase) and its .pub."""
    try:
        key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {key_dir} for the project's SSH key: {exc.strerror}") from None
    private_key = key_dir / "id_ed25519"
    comment = f"mlstack@{socket.gethostname()}"
    result = subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(private_key)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ConfigError(f"ssh-keygen could not create {private_key}: {result.stderr.strip()}")
    return _checked(private_key, private_key.with_name(private_key.name + ".pub"), generated=True)


def find_or_create(
    public_key: Path | None = None,
    private_key: Path | None = None,
    *,
    key_dir: Path = PROJECT_KEY_DIR,
    home: Path | None = None,
) -> KeyPair:
    """The key pair to use, following the order in this module's docstring."""
    if public_key is not None:
        private = private_key or (public_key.with_suffix("") if public_key.suffix == ".pub" else None)
        if private is None:
            raise ConfigError(f"cannot guess the private key for {public_key}", "pass --private-key PATH")
        return _checked(private, public_key)
    if private_key is not None:
        return _checked(private_key, private_key.with_name(private_key.name + ".pub"))
    project = key_dir / "id_ed25519"
    if project.is_file() and project.with_name(project.name + ".pub").is_file():
        return _checked(project, project.with_name(project.name + ".pub"))
    ssh_dir = (home or Path.home()) / ".ssh"
    for name in USER_KEY_NAMES:
        private = ssh_dir / name
        public = ssh_dir / f"{name}.pub"
        if private.is_file() and public.is_file() and _usable_without_prompt(private):
            return _checked(private, public)
    return generate(key_dir)


def resolve(settings: Settings) -> Settings:
    """``settings`` with ``public_key`` and ``private_key`` filled in (generating a key when needed)."""
    if settings.public_key is not None and settings.private_key is not None:
        _checked(settings.private_key, settings.public_key)
        return settings
    pair = find_or_create(settings.public_key, settings.private_key)
    return dataclasses.replace(settings, public_key=pair.public_key, private_key=pair.private_key)


def public_key_text(settings: Settings) -> str:
    """The public key line of a resolved ``settings``."""
    if settings.public_key is None:
        raise ConfigError("no public key resolved (call keys.resolve first)")
    return check_public_key(settings.public_key.read_text(encoding="utf-8"))
