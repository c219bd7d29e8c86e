"""Render the cloud-init templates (cloud-init/<prod|dev>-cloud-cfg.yaml) with the user's public key.

Worker machines (role ``workers``) get prodserver's template: they need the same thing from cloud-init
(appuser and the key); Ansible makes them workers.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

from provisioner.errors import ConfigError
from provisioner.settings import REPO_ROOT

TEMPLATE_DIR = REPO_ROOT / "cloud-init"
TEMPLATES = {
    "prodserver": "prod-cloud-cfg.yaml",
    "devserver": "dev-cloud-cfg.yaml",
    "workers": "prod-cloud-cfg.yaml",
}
HEADER = "#cloud-config"

# ssh-ed25519 / ssh-rsa / ecdsa-sha2-nistp256 / sk-ssh-ed25519@openssh.com ..., a base64 body, a comment.
_KEY_RE = re.compile(
    r"^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9]+|sk-[a-z0-9-]+@openssh\.com) [A-Za-z0-9+/]+={0,3}( .*)?$"
)


def check_public_key(public_key: str) -> str:
    """Return the key as one clean line, or raise ConfigError when it is not an OpenSSH public key."""
    key = public_key.strip()
    if "\n" in key or not _KEY_RE.match(key):
        raise ConfigError(
            "the public key is not a single OpenSSH public key line (ssh-ed25519 AAAA... comment)",
            "pass --public-key with a .pub file; a private key never goes into cloud-init",
        )
    return key


def template_path(role: str) -> Path:
    """The template file for ``role`` (prodserver, devserver or workers)."""
    try:
        return TEMPLATE_DIR / TEMPLATES[role]
    except KeyError:
        raise ConfigError(
            f"no cloud-init template for role {role!r}; known: {', '.join(TEMPLATES)}"
        ) from None


def render(role: str, public_key: str) -> str:
    """The cloud-config text for ``role``: creates appuser with ``public_key`` (starts with #cloud-config).

    The key is inserted as a JSON string, which is a valid YAML double-quoted scalar, so no comment
    characters in the key can change the document's structure.
    """
    key = check_public_key(public_key)
    text = template_path(role).read_text(encoding="utf-8")
    rendered = string.Template(text).substitute(public_key=json.dumps(key))
    if not rendered.startswith(HEADER + "\n"):
        raise ConfigError(f"{template_path(role)} must start with a {HEADER} line")
    return rendered
