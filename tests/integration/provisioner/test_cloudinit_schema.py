"""The rendered templates pass cloud-init's own schema validation (Debian's cloud-init package)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from provisioner import cloudinit

CLOUD_INIT = shutil.which("cloud-init")
pytestmark = pytest.mark.skipif(
    CLOUD_INIT is None, reason="cloud-init is not installed (apt-get install cloud-init)"
)


def validate(path):
    return subprocess.run(
        [CLOUD_INIT, "schema", "--config-file", str(path)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("role", sorted(cloudinit.TEMPLATES))
def test_rendered_template_is_valid_cloud_config(role, keypair):
    _, public = keypair
    rendered = cloudinit.render(role, public.read_text())
    path = public.parent / f"{role}.cfg"
    path.write_text(rendered)

    result = validate(path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def test_the_validator_does_reject_a_broken_config(tmp_path):
    """The check above can fail: the same validator refuses a wrong type."""
    path = tmp_path / "broken.cfg"
    rendered = cloudinit.render("prodserver", "ssh-ed25519 AAAA x")
    path.write_text(rendered.replace("lock_passwd: true", "lock_passwd: [not, a, boolean]"))
    result = validate(path)
    assert result.returncode != 0
    assert "lock_passwd" in result.stdout + result.stderr
