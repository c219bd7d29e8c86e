"""Offline mode (``--offline``): the configuration on a network with no container registry and no Docker apt
repository, only a Debian mirror and PyPI.

Before the configuration run, on this machine:

1. the base image ``mlstack/base:trixie`` (debootstrap from the Debian mirror, machine-image/build-base.sh;
   cached by its recipe);
2. ``mlstack/python:trixie``, the app images' base (scripts/build-python-base.sh; cached by its recipe);
3. ``mlstack/rabbitmq:local``, the RabbitMQ stand-in (``docker build`` of app/rabbitmq/ on the base image;
   Docker's layer cache makes a re-run take seconds);
4. ``docker save`` of 2 and 3 into ``<repo>/.cache/images/<name>-<image id 12>.tar``, once per image id
   (written to a temporary name, then renamed; older archives of the same image are removed).

The configuration then gets these extra variables, below the user's own (``--extra-vars`` wins):
``docker_install_source: distro``, the two image names, ``model_serving_compose_pull: never``, the archive
paths (``model_serving_image_archives``), this host's CA certificates (``common_extra_ca_certificates``)
and, on local machines, the Docker service environment that lets Docker run inside a container.

``dataset_file`` (any mode) points ``model_serving_dataset_file`` and ``ml_dev_dataset_file`` at a local CSV
instead of the download.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import docker_cli
from provisioner.errors import ConfigError, ProviderError
from provisioner.settings import REPO_ROOT, Settings

Progress = Callable[[str], None]

BASE_IMAGE = "mlstack/base:trixie"
PYTHON_IMAGE = "mlstack/python:trixie"
RABBITMQ_IMAGE = "mlstack/rabbitmq:local"
CACHE_DIR = REPO_ROOT / ".cache" / "images"
CA_DIR = Path("/usr/local/share/ca-certificates")
BUILD_BASE = REPO_ROOT / "machine-image" / "build-base.sh"
BUILD_PYTHON = REPO_ROOT / "scripts" / "build-python-base.sh"
RABBITMQ_CONTEXT = REPO_ROOT / "app" / "rabbitmq"
TAIL_LINES = 15

# The same overrides as the roles' tests use (tests/integration/roles/offline-vars.yml), minus their
# few-epochs training; the paths are added by ``offline_vars``.
STATIC_VARS: dict[str, Any] = {
    "docker_install_source": "distro",
    "model_serving_base_image": PYTHON_IMAGE,
    "model_serving_rabbitmq_image": RABBITMQ_IMAGE,
    "model_serving_compose_pull": "never",
}
# Local machines, offline or not: containers whose /proc/sys is read-only, so Docker inside cannot switch
# IPv6 off on its containers' interfaces and refuses to start them unless told to go on; and throwaway
# machines, where apt's daily timers would only compete with the configuration for the dpkg lock.
LOCAL_MACHINE_VARS: dict[str, Any] = {
    "docker_service_environment": {"DOCKER_ALLOW_IPV6_ON_IPV4_INTERFACE": "1"},
    "common_automatic_updates_enabled": False,
}


def say(line: str) -> None:
    """Default progress output."""
    print(line, flush=True)


@dataclass(frozen=True)
class Archive:
    """A ``docker save`` archive of one image."""

    image: str
    image_id: str
    path: Path


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def tail(text: str, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` non-empty lines of a command's output."""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def run(
    argv: Sequence[str],
    *,
    what: str,
    hint: str,
    timeout: float,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a build step; a failure is a ProviderError with the last lines of its output and ``hint``."""
    try:
        result = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, **(env or {})},
        )
    except FileNotFoundError:
        raise ProviderError(f"{what}: {argv[0]} does not exist", hint) from None
    except subprocess.TimeoutExpired:
        raise ProviderError(f"{what} did not finish within {timeout:.0f}s", hint) from None
    if result.returncode != 0:
        output = tail(result.stdout + "\n" + result.stderr)
        raise ProviderError(f"{what} failed (exit {result.returncode}):\n{output}", hint)
    return result


def image_id(image: str) -> str | None:
    """The full id (``sha256:...``) of a local image, None when it does not exist."""
    info = docker_cli.inspect("image", image)
    return str(info["Id"]) if info else None


def _timed(progress: Progress, started: float, built: bool) -> None:
    progress(f"    {'built' if built else 'up to date'} ({time.monotonic() - started:.0f}s)")


def _build_with_script(
    progress: Progress, image: str, label: str, how_long: str, argv: list[str], needs: str
) -> str:
    """Run one of the repository's image scripts (each rebuilds only when the image's recipe changed and
    says ``<script>: built`` on stderr when it did); ``image``."""
    script = Path(argv[0])
    if image_id(image) is None:
        progress(f"  building the {label} {image} ({how_long}, cached afterwards)")
    else:
        progress(f"  {label} {image}: checking it (rebuilt only when its recipe changed)")
    started = time.monotonic()
    result = run(
        argv,
        what=f"building the {label} {image}",
        hint=f"run {_relative(script)} to see the whole output; {needs}",
        timeout=1800,
    )
    _timed(progress, started, f"{script.stem}: built" in result.stderr)
    return image


def ensure_base_image(progress: Progress = say) -> str:
    """Build ``mlstack/base:trixie`` with machine-image/build-base.sh unless it is up to date."""
    return _build_with_script(
        progress,
        BASE_IMAGE,
        "base image",
        "about 30 s",
        [str(BUILD_BASE)],
        "it needs debootstrap, root and a Debian mirror (http://deb.debian.org)",
    )


def build_python_image(progress: Progress = say) -> str:
    """Build ``mlstack/python:trixie`` with scripts/build-python-base.sh unless it is up to date."""
    return _build_with_script(
        progress,
        PYTHON_IMAGE,
        "app base image",
        "about a minute",
        [str(BUILD_PYTHON), "--base", BASE_IMAGE, "--tag", PYTHON_IMAGE],
        "it installs python3 from the Debian mirror",
    )


def build_rabbitmq_image(
    progress: Progress = say,
    context: Path = RABBITMQ_CONTEXT,
    tag: str = RABBITMQ_IMAGE,
    base: str = BASE_IMAGE,
) -> str:
    """``docker build --build-arg BASE_IMAGE=<base> -t <tag> <context>`` (Docker's layer cache makes a
    re-run quick)."""
    before = image_id(tag)
    if before is None:
        progress(f"  building the RabbitMQ stand-in {tag} (about 2 minutes, cached afterwards)")
    else:
        progress(f"  RabbitMQ stand-in {tag}: checking it (Docker's layer cache)")
    started = time.monotonic()
    run(
        # --force-rm: a failed step leaves no container behind
        [
            docker_binary(),
            "build",
            "--force-rm",
            "--build-arg",
            f"BASE_IMAGE={base}",
            "--tag",
            tag,
            str(context),
        ],
        what=f"building {tag} from {_relative(context)}",
        hint=f"build it by hand to see the whole output: docker build --build-arg BASE_IMAGE={base} "
        f"-t {tag} {_relative(context)}",
        timeout=1800,
        env={"DOCKER_BUILDKIT": "0"},  # the legacy builder: no BuildKit/buildx needed
    )
    _timed(progress, started, image_id(tag) != before)
    return tag


def docker_binary() -> str:
    """The docker command, or a ProviderError that says offline mode needs it."""
    try:
        docker_cli.ensure_engine()
        return docker_cli.binary()
    except ProviderError as exc:
        raise ProviderError(
            f"offline mode builds its images with Docker on this machine: {exc.message}", exc.hint
        ) from None


def archive_name(image: str, image_id_: str) -> str:
    """``mlstack/python:trixie``, ``sha256:23614b7e356b...`` -> ``mlstack_python_trixie-23614b7e356b.tar``"""
    return f"{image.replace('/', '_').replace(':', '_')}-{image_id_.split(':')[-1][:12]}.tar"


def archive_image_id(path: Path) -> str:
    """The id (hex) of the image in a ``docker save`` archive, from its manifest.json."""
    with tarfile.open(path) as archive:
        member = archive.extractfile("manifest.json")
        if member is None:
            raise ProviderError(f"{path} has no manifest.json: not a docker save archive")
        manifest = json.load(member)
    config = str(manifest[0]["Config"])  # "<hex>.json" (docker) or "blobs/sha256/<hex>" (OCI layout)
    return Path(config).name.removesuffix(".json")


def save_archive(image: str, cache_dir: Path = CACHE_DIR, progress: Progress = say) -> Archive:
    """``docker save`` ``image`` into ``cache_dir`` as ``<name>-<id12>.tar`` unless that file exists; the
    archive is written to a temporary name and renamed, so a file of that name is always complete."""
    found = image_id(image)
    if found is None:
        raise ProviderError(f"the image {image} does not exist, so it cannot be saved")
    path = cache_dir / archive_name(image, found)
    if path.is_file():
        progress(f"  archive {_relative(path)}: saved before")
        return Archive(image=image, image_id=found, path=path)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the image cache {cache_dir}: {exc.strerror}") from None
    progress(f"  saving {image} to {_relative(path)} (a few seconds, once per image id)")
    started = time.monotonic()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        run(
            [docker_binary(), "save", "--output", str(tmp), image],
            what=f"saving {image} to {tmp}",
            hint=f"is there room in {cache_dir}? (df -h {cache_dir})",
            timeout=900,
        )
        saved = archive_image_id(tmp)
        if saved != found.split(":")[-1]:  # the tag moved to a new build meanwhile: save that one next time
            raise ProviderError(
                f"{image} changed while it was being saved (now {saved[:12]})", "run the launcher again"
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _prune(path)
    progress(f"    saved ({time.monotonic() - started:.0f}s)")
    return Archive(image=image, image_id=found, path=path)


def _prune(kept: Path) -> None:
    """Remove the archives of older builds of the same image (``<name>-<other id>.tar``)."""
    name = kept.name.rsplit("-", 1)[0]
    pattern = re.compile(re.escape(name) + r"-[0-9a-f]{12}\.tar")
    for other in kept.parent.iterdir():
        if other != kept and pattern.fullmatch(other.name):
            other.unlink(missing_ok=True)


def ca_certificates(ca_dir: Path = CA_DIR) -> list[str]:
    """This host's locally added CA certificates (``<ca_dir>/*.crt``; a TLS-intercepting proxy's, say)."""
    return sorted(str(p) for p in ca_dir.glob("*.crt")) if ca_dir.is_dir() else []


def offline_vars(
    archives: Sequence[Archive], ca_dir: Path = CA_DIR, local_machines: bool = False
) -> dict[str, Any]:
    """The extra variables of offline mode: the static overrides, the archives and the CA certificates."""
    values: dict[str, Any] = dict(STATIC_VARS)
    values["model_serving_image_archives"] = [str(a.path) for a in archives]
    values["common_extra_ca_certificates"] = ca_certificates(ca_dir)
    if local_machines:
        values.update(LOCAL_MACHINE_VARS)
    return values


def dataset_vars(dataset_file: Path | None) -> dict[str, Any]:
    """``model_serving_dataset_file`` and ``ml_dev_dataset_file`` for a local CSV (nothing when None)."""
    if dataset_file is None:
        return {}
    path = dataset_file.expanduser().resolve()
    if not path.is_file():
        raise ConfigError(
            f"the data set file {dataset_file} does not exist",
            "give the path of the CSV with --dataset-file (or dataset_file / MLSTACK_DATASET_FILE)",
        )
    return {"model_serving_dataset_file": str(path), "ml_dev_dataset_file": str(path)}


def prepare(
    progress: Progress = say,
    cache_dir: Path = CACHE_DIR,
    ca_dir: Path = CA_DIR,
    local_machines: bool = False,
) -> dict[str, Any]:
    """Build what is missing, save what is not saved yet; the extra variables of offline mode."""
    progress(f"Offline mode: images built here, shipped as archives (kept in {_relative(cache_dir)}/)")
    docker_binary()
    ensure_base_image(progress)
    images = [build_python_image(progress), build_rabbitmq_image(progress)]
    archives = [save_archive(image, cache_dir, progress) for image in images]
    return offline_vars(archives, ca_dir, local_machines)


def launcher_vars(
    settings: Settings, progress: Progress = say, cache_dir: Path = CACHE_DIR
) -> dict[str, Any]:
    """The launcher's own extra variables for the configuration run (the user's come on top): local
    machines' on the local provider, offline mode's when ``settings.offline``, and the data set file's
    when ``settings.dataset_file``."""
    values = dataset_vars(settings.dataset_file)
    if settings.provider == "local":
        values = {**LOCAL_MACHINE_VARS, **values}
    if settings.offline:
        values = {**prepare(progress, cache_dir, local_machines=settings.provider == "local"), **values}
    return values
