"""Offline mode against the real Docker Engine: images built (or found up to date), saved once per image id
into the cache (atomically, older archives of the same image removed), build failures as messages, and the
variables reaching a real playbook run through the command line.

The images themselves are cached (by recipe, and by Docker's layer cache), so after the first build these
tests take seconds; the archive tests use a tiny image imported for the test.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest

from provisioner import cli, offline
from provisioner.errors import ProviderError
from provisioner.settings import REPO_ROOT
from tests.machines_fixtures import docker_engine  # noqa: F401

pytestmark = pytest.mark.docker
DATA_FILE = (REPO_ROOT / ".." / "shared" / "data" / "pima-indians-diabetes.csv").resolve()


def docker(*args: str, check: bool = True, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["docker", *args], capture_output=True, input=stdin, check=check, timeout=300)


def import_tiny_image(tag: str, content: str) -> str:
    """``docker import`` a one-file image; returns its id."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = content.encode()
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    docker("import", "-", tag, stdin=buffer.getvalue())
    return docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.decode().strip()


@pytest.fixture
def tiny_tag(docker_engine):  # noqa: F811
    tag = f"mlt-offline/tiny:{uuid.uuid4().hex[:8]}"
    ids: list[str] = []
    yield tag, ids
    docker("rmi", "--force", tag, *ids, check=False)


def snapshot(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def test_an_archive_is_saved_once_per_image_id_atomically_and_older_ones_go(tiny_tag, tmp_path):
    tag, ids = tiny_tag
    cache = tmp_path / "images"
    ids.append(import_tiny_image(tag, "first"))
    lines: list[str] = []

    first = offline.save_archive(tag, cache, lines.append)

    assert first.path == cache / offline.archive_name(tag, ids[0])
    assert first.path.name.startswith("mlt-offline_tiny_")
    assert offline.archive_image_id(first.path) == ids[0].split(":")[-1]
    assert any(line.strip().startswith(f"saving {tag} to") for line in lines)
    before = snapshot(first.path)
    lines.clear()

    again = offline.save_archive(tag, cache, lines.append)

    assert again == first
    assert snapshot(first.path) == before, "the same image id is never saved twice"
    assert lines == [f"  archive {first.path}: saved before"]

    ids.append(import_tiny_image(tag, "second"))  # a new build under the same name
    newer = offline.save_archive(tag, cache, lines.append)

    assert newer.path != first.path
    assert sorted(p.name for p in cache.iterdir()) == [newer.path.name], "older archive gone, no temp file"

    # the archive is a real `docker save`: after the image is removed, `docker load` brings it back
    docker("rmi", "--force", tag)
    loaded = docker("load", "--input", str(newer.path)).stdout.decode()
    assert tag in loaded
    assert docker("image", "inspect", "--format", "{{.Id}}", tag).stdout.decode().strip() == ids[1]


def test_saving_an_image_that_does_not_exist_is_a_provider_error(docker_engine, tmp_path):  # noqa: F811
    with pytest.raises(ProviderError, match="mlt-offline/absent:x does not exist"):
        offline.save_archive("mlt-offline/absent:x", tmp_path / "images", lambda line: None)
    assert not (tmp_path / "images").exists()


def test_a_failed_build_shows_the_failing_steps_output_and_leaves_no_container(docker_engine, tmp_path):  # noqa: F811
    marker = f"offline-test-{uuid.uuid4().hex[:8]}"
    (tmp_path / "Dockerfile").write_text(
        f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\nRUN echo {marker}-output && echo {marker}-why >&2 && exit 3\n"
    )
    tag = f"mlt-offline/broken:{marker}"
    offline.ensure_base_image(lambda line: None)  # the base the failing step runs on (built once, cached)
    lines: list[str] = []

    with pytest.raises(ProviderError) as failure:
        offline.build_rabbitmq_image(lines.append, context=tmp_path, tag=tag, base=offline.BASE_IMAGE)

    message = failure.value.message
    assert message.startswith(f"building {tag} from {tmp_path} failed (exit ")
    assert f"{marker}-output" in message and f"{marker}-why" in message
    assert "returned a non-zero code: 3" in message
    assert f"docker build --build-arg BASE_IMAGE={offline.BASE_IMAGE} -t {tag}" in failure.value.hint
    assert lines[0] == f"  building the RabbitMQ stand-in {tag} (about 2 minutes, cached afterwards)"
    leftovers = docker("ps", "--all", "--no-trunc", "--format", "{{.Command}}").stdout.decode()
    assert marker not in leftovers, "the failed step's container was removed"
    assert docker("image", "inspect", tag, check=False).returncode != 0


def test_prepare_finds_the_cached_images_and_archives(docker_engine):  # noqa: F811
    """The real images and the repository's cache (.cache/images/): built or saved once, then reused."""
    offline.prepare(lambda line: None, local_machines=True)  # builds or saves whatever is missing
    lines: list[str] = []

    values = offline.prepare(lines.append, local_machines=True)

    archives = [Path(p) for p in values["model_serving_image_archives"]]
    for image, path in zip((offline.PYTHON_IMAGE, offline.RABBITMQ_IMAGE), archives, strict=True):
        image_id = offline.image_id(image)
        assert image_id is not None
        assert path == offline.CACHE_DIR / offline.archive_name(image, image_id)
        assert offline.archive_image_id(path) == image_id.split(":")[-1]
    assert values["docker_install_source"] == "distro"
    assert values["model_serving_compose_pull"] == "never"
    assert values["common_extra_ca_certificates"] == offline.ca_certificates()
    assert values["docker_service_environment"] == {"DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE": "1"}
    assert lines[0].startswith("Offline mode: images built here, shipped as archives")
    assert sum("up to date (" in line for line in lines) == 3, "nothing rebuilt the second time"
    assert sum("saved before" in line for line in lines) == 2
    assert not [p for p in offline.CACHE_DIR.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.skipif(not DATA_FILE.is_file(), reason=f"the data set {DATA_FILE} is missing")
def test_offline_mode_through_the_command_line_reaches_the_playbook(
    docker_engine,  # noqa: F811
    isolated,
    keypair,
    vars_record,
    this_host,
    capsys,
):
    private, public = keypair
    argv = [
        "--offline",
        "--dataset-file",
        str(DATA_FILE),
        "-e",
        "greeting=hi model_serving_compose_pull=missing",
        "--public-key",
        str(public),
        "--private-key",
        str(private),
    ]

    code = cli.main(argv, lambda name: this_host)

    out, err = capsys.readouterr()
    assert code == 0, out + err
    values = json.loads((vars_record / "prodserver.json").read_text())
    assert values["docker_install_source"] == "distro"
    assert values["model_serving_base_image"] == "mlstack/python:trixie"
    assert values["model_serving_rabbitmq_image"] == "mlstack/rabbitmq:local"
    assert values["model_serving_compose_pull"] == "missing", "the user's variable wins over offline mode's"
    assert values["docker_service_environment"] == {"DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE": "1"}
    assert [os.path.basename(p) for p in values["model_serving_image_archives"]] == [
        offline.archive_name(image, offline.image_id(image) or "")
        for image in (offline.PYTHON_IMAGE, offline.RABBITMQ_IMAGE)
    ]
    assert all(Path(p).is_file() for p in values["model_serving_image_archives"])
    assert values["common_extra_ca_certificates"] == offline.ca_certificates()
    assert values["model_serving_dataset_file"] == values["ml_dev_dataset_file"] == str(DATA_FILE)
    assert "Offline mode: images built here" in out
    assert "Extra variables (the later wins): offline mode, the data set file" in out
