"""Which key pair logs in as appuser (real ssh-keygen, temporary directories)."""

from __future__ import annotations

import stat
import subprocess

import pytest

from provisioner import keys
from provisioner.errors import ConfigError


def make_key(path, passphrase=""):
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True)
    return path


@pytest.fixture(autouse=True)
def no_agent(monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


def test_generates_a_project_key_when_the_user_has_none(tmp_path):
    pair = keys.find_or_create(key_dir=tmp_path / "repo" / ".ssh", home=tmp_path / "home")
    assert pair.generated
    assert pair.private_key == tmp_path / "repo" / ".ssh" / "id_ed25519"
    assert stat.S_IMODE(pair.private_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(pair.private_key.parent.stat().st_mode) == 0o700
    assert pair.public_text().startswith("ssh-ed25519 ")

    again = keys.find_or_create(key_dir=tmp_path / "repo" / ".ssh", home=tmp_path / "home")
    assert not again.generated and again.private_key == pair.private_key, "re-runs keep the same key"


def test_uses_the_users_key(tmp_path):
    user_key = make_key(tmp_path / "home" / ".ssh" / "id_ed25519")
    pair = keys.find_or_create(key_dir=tmp_path / "repo" / ".ssh", home=tmp_path / "home")
    assert pair.private_key == user_key and not pair.generated
    assert not (tmp_path / "repo" / ".ssh").exists()


def test_skips_a_passphrase_key_without_an_agent(tmp_path):
    make_key(tmp_path / "home" / ".ssh" / "id_ed25519", passphrase="secret phrase")
    pair = keys.find_or_create(key_dir=tmp_path / "repo" / ".ssh", home=tmp_path / "home")
    assert pair.generated, "Ansible could not use a key that prompts"


def test_the_project_key_wins_once_it_exists(tmp_path):
    project = make_key(tmp_path / "repo" / ".ssh" / "id_ed25519")
    make_key(tmp_path / "home" / ".ssh" / "id_ed25519")
    assert keys.find_or_create(key_dir=project.parent, home=tmp_path / "home").private_key == project


def test_explicit_public_key(tmp_path):
    private = make_key(tmp_path / "mine" / "deploy")
    pair = keys.find_or_create(public_key=private.with_name("deploy.pub"), key_dir=tmp_path / "unused")
    assert pair.private_key == private


def test_explicit_public_key_without_its_private_half(tmp_path):
    private = make_key(tmp_path / "mine" / "deploy")
    private.unlink()
    with pytest.raises(ConfigError, match=r"private key .* does not exist"):
        keys.find_or_create(public_key=private.with_name("deploy.pub"), key_dir=tmp_path / "unused")


def test_missing_public_key(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        keys.find_or_create(public_key=tmp_path / "nope.pub", key_dir=tmp_path / "unused")


def test_a_private_key_given_as_public_is_refused(tmp_path):
    private = make_key(tmp_path / "mine" / "deploy")
    with pytest.raises(ConfigError, match="not a single OpenSSH public key"):
        keys.find_or_create(public_key=private, private_key=private, key_dir=tmp_path / "unused")
