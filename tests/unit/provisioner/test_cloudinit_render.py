"""Rendering the cloud-init templates with a public key."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from provisioner import cloudinit
from provisioner.errors import ConfigError

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7e4T2lO3bH9f0Jt7JqZ2cV3l5v7n9p1r3t5v7x9z1B user@host # : odd"


@pytest.mark.parametrize("role", ["prodserver", "devserver", "workers"])
def test_render_creates_appuser_with_the_key(role):
    text = cloudinit.render(role, KEY + "\n")
    assert text.splitlines()[0] == "#cloud-config"
    config = yaml.safe_load(text)
    assert config["users"][0] == "default", "the distro's default user is kept"
    appuser = config["users"][1]
    assert appuser["name"] == "appuser"
    assert appuser["shell"] == "/bin/bash"
    assert appuser["sudo"] == "ALL=(ALL) NOPASSWD:ALL"
    assert appuser["ssh_authorized_keys"] == [KEY], "comment characters in the key do not change the YAML"
    assert config["ssh_pwauth"] is False


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----",
        "ssh-ed25519 AAAA one\nssh-ed25519 AAAA two",
        "not a key at all",
        "ssh-ed25519 AAAA\n  users: [root]",
    ],
)
def test_render_refuses_what_is_not_one_public_key(bad):
    with pytest.raises(ConfigError, match="not a single OpenSSH public key"):
        cloudinit.render("prodserver", bad)


def test_worker_machines_get_prodservers_template():
    assert cloudinit.template_path("workers") == cloudinit.template_path("prodserver")
    assert cloudinit.render("workers", KEY) == cloudinit.render("prodserver", KEY)


def test_unknown_role():
    with pytest.raises(ConfigError, match="no cloud-init template"):
        cloudinit.render("workers-x", KEY)


def test_no_key_is_committed_in_the_templates():
    for name in cloudinit.TEMPLATES.values():
        text = (cloudinit.TEMPLATE_DIR / name).read_text()
        assert "${public_key}" in text
        assert "AAAA" not in text and "PRIVATE KEY" not in text


def test_templates_are_tracked_or_new_but_never_ignored():
    result = subprocess.run(
        ["git", "check-ignore", *[str(cloudinit.TEMPLATE_DIR / n) for n in cloudinit.TEMPLATES.values()]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout == ""
