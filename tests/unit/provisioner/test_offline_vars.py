"""Offline mode's variables (no Docker needed here; the image and archive functions are tested against the
real Docker Engine in tests/integration/provisioner/test_offline_images.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from provisioner import offline
from provisioner.errors import ConfigError, ProviderError
from provisioner.settings import REPO_ROOT, Settings

ROLES_TEST_VARS = REPO_ROOT / "tests" / "integration" / "roles" / "offline-vars.yml"
TEST_ONLY = {"model_serving_train_epochs"}  # the roles' tests train for few epochs; a real stack does not


def archives(tmp_path: Path) -> list[offline.Archive]:
    return [
        offline.Archive("mlstack/python:trixie", "sha256:" + "a" * 64, tmp_path / "p.tar"),
        offline.Archive("mlstack/rabbitmq:local", "sha256:" + "b" * 64, tmp_path / "r.tar"),
    ]


def test_the_variables_of_offline_mode(tmp_path):
    ca_dir = tmp_path / "ca"
    ca_dir.mkdir()
    for name in ("proxy.crt", "corp.crt", "readme.txt"):
        (ca_dir / name).write_text("x")
    values = offline.offline_vars(archives(tmp_path), ca_dir=ca_dir)
    assert values == {
        "docker_install_source": "distro",
        "model_serving_base_image": "mlstack/python:trixie",
        "model_serving_rabbitmq_image": "mlstack/rabbitmq:local",
        "model_serving_compose_pull": "never",
        "model_serving_image_archives": [str(tmp_path / "p.tar"), str(tmp_path / "r.tar")],
        "common_extra_ca_certificates": [str(ca_dir / "corp.crt"), str(ca_dir / "proxy.crt")],
    }
    assert offline.offline_vars([], ca_dir=tmp_path / "none")["common_extra_ca_certificates"] == []


def test_local_machines_also_get_the_docker_service_environment(tmp_path):
    values = offline.offline_vars(archives(tmp_path), ca_dir=tmp_path, local_machines=True)
    assert values["docker_service_environment"] == {"DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE": "1"}


@pytest.mark.skipif(not ROLES_TEST_VARS.is_file(), reason="the roles' offline test variables are not here")
def test_the_same_names_and_values_as_the_roles_tests_use(tmp_path):
    theirs = yaml.safe_load(ROLES_TEST_VARS.read_text())
    ours = offline.offline_vars(archives(tmp_path), ca_dir=tmp_path, local_machines=True)
    for name, value in theirs.items():
        if name not in TEST_ONLY:
            assert ours.get(name) == value, name


def test_archive_names_carry_the_image_and_its_id():
    name = offline.archive_name("mlstack/python:trixie", "sha256:23614b7e356b" + "0" * 52)
    assert name == "mlstack_python_trixie-23614b7e356b.tar"


def test_the_data_set_file_goes_to_both_roles(tmp_path):
    csv = tmp_path / "pima.csv"
    csv.write_text("1,2,3\n")
    assert offline.dataset_vars(csv) == {
        "model_serving_dataset_file": str(csv),
        "ml_dev_dataset_file": str(csv),
    }
    assert offline.dataset_vars(None) == {}
    with pytest.raises(ConfigError, match=r"the data set file .* does not exist") as failure:
        offline.dataset_vars(tmp_path / "missing.csv")
    assert "--dataset-file" in failure.value.hint


def test_launcher_vars_without_offline_mode_touch_no_docker(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker command: nothing may need it
    csv = tmp_path / "d.csv"
    csv.write_text("1\n")
    settings = Settings(provider="openstack", dataset_file=csv)
    assert offline.launcher_vars(settings) == offline.dataset_vars(csv)
    assert offline.launcher_vars(Settings(provider="openstack")) == {}


def test_local_machines_get_their_variables_without_offline_mode_too(tmp_path, monkeypatch):
    # A user whose network reaches Docker Hub runs `make up` without offline mode: Docker inside the local
    # machines still needs its service environment (it refuses to start containers without it).
    monkeypatch.setenv("PATH", str(tmp_path))
    values = offline.launcher_vars(Settings(provider="local", offline=False))
    assert values["docker_service_environment"] == {"DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE": "1"}
    assert values["common_automatic_updates_enabled"] is False
    assert "docker_install_source" not in values  # Docker's own repository, the online default


def test_offline_mode_without_docker_is_a_provider_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    lines: list[str] = []
    with pytest.raises(ProviderError) as failure:
        offline.launcher_vars(dataclasses.replace(Settings(), offline=True), lines.append, tmp_path / "c")
    assert failure.value.message.startswith("offline mode builds its images with Docker on this machine")
    assert "Docker is not installed" in failure.value.message
    assert "apt-get install docker.io" in failure.value.hint
    assert not (tmp_path / "c").exists()


def test_a_failing_step_shows_the_last_lines_and_the_hint():
    script = "for i in $(seq 1 30); do echo line-$i; done; echo the-real-error >&2; exit 4"
    with pytest.raises(ProviderError) as failure:
        offline.run(["bash", "-c", script], what="building X", hint="do Y", timeout=30)
    message = failure.value.message
    assert message.startswith("building X failed (exit 4):\n")
    assert message.splitlines()[-1] == "the-real-error"
    assert "line-30" in message and "line-5\n" not in message, "only the last lines"
    assert failure.value.hint == "do Y"
    with pytest.raises(ProviderError, match="does not exist"):
        offline.run(["/no/such/script.sh"], what="building Z", hint="h", timeout=5)
