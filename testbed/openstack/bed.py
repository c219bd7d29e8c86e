"""The test bed's container: its image (built from Debian's mirror, cached by its recipe's hash), start,
wait until every API answers, stop.

- ``mlstack/base:bookworm``: machine-image/build-base.sh --suite bookworm (debootstrap minbase, ``docker
  import``, this host's CAs trusted; cached by that script's own recipe hash);
- ``mlstack/openstack-testbed:<recipe>``: ``docker build`` of this directory's Dockerfile on it, where
  ``<recipe>`` hashes the Dockerfile and the base image's id: a second start reuses it;
- ``mlstack/openstack-testbed:<recipe>-baked-<hash>``: the package image with the databases migrated,
  keystone bootstrapped and the compute host mapped (``inside.py bake`` in a throw-away container, then
  ``docker commit``, about as long as one start without it); ``<hash>`` covers the package image,
  inside.py, templates/, testbed_neutron/ and the password, so a change there bakes again;
- the container ``mlstack-openstack-testbed`` (``--init``; APIs published on 127.0.0.1 only) runs
  inside.py from this directory, mounted read-only at /testbed, from the baked image: a start is only the
  services' own start.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from provisioner import docker_cli, offline
from provisioner.errors import ProviderError

HERE = Path(__file__).resolve().parent
BASE_IMAGE = "mlstack/base:bookworm"
IMAGE_REPO = "mlstack/openstack-testbed"
UPSTREAM = {"keystone": 5000, "glance": 9292, "placement": 8778, "nova": 8774, "neutron": 9696}
READY = "/run/testbed-ready"
# One builder at a time on this host (CI builds the image in the background while the first tests run; the
# test bed's fixture then waits for that build instead of starting a second one).
BUILD_LOCK = Path("/tmp/mlstack-openstack-testbed-image.lock")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Bed:
    """Where the test bed runs: its container name, port base and password (environment overrides:
    MLSTACK_TESTBED_NAME, MLSTACK_TESTBED_PORT_BASE, MLSTACK_TESTBED_PASSWORD)."""

    name: str = "mlstack-openstack-testbed"
    port_base: int = 25000
    password: str = "testbed"  # a throw-away CI cloud on loopback

    @classmethod
    def from_env(cls) -> Bed:
        return cls(
            name=os.environ.get("MLSTACK_TESTBED_NAME", cls.name),
            port_base=int(os.environ.get("MLSTACK_TESTBED_PORT_BASE", cls.port_base)),
            password=os.environ.get("MLSTACK_TESTBED_PASSWORD", cls.password),
        )

    def port(self, service: str) -> int:
        """The API's port: the base plus the upstream port modulo 1000 (keystone 5000 -> base + 0)."""
        return self.port_base + UPSTREAM[service] % 1000

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.port('keystone')}/v3"


def recipe() -> str:
    """The package image's recipe hash: its Dockerfile and the base image's id."""
    base_id = offline.image_id(BASE_IMAGE) or ""
    digest = hashlib.sha256((HERE / "Dockerfile").read_bytes() + base_id.encode())
    return digest.hexdigest()[:12]


@contextlib.contextmanager
def build_lock(progress: Progress = offline.say) -> Iterator[None]:
    """Hold the host's image build lock; say so when another process holds it and we wait."""
    with BUILD_LOCK.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"  waiting for another build of the test bed's image to finish ({BUILD_LOCK})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_ready_image(bed: Bed, progress: Progress = offline.say) -> str:
    """The image a start runs: the base and package images built and the set-up baked, each only when
    out of date, one builder at a time on this host; the baked image's tag."""
    with build_lock(progress):
        return ensure_baked(bed, ensure_image(progress), progress)


def ensure_image(progress: Progress = offline.say) -> str:
    """Build the base image and the package image unless they are up to date; the package image's tag
    (callers hold build_lock)."""
    offline._build_with_script(
        progress,
        BASE_IMAGE,
        "base image",
        "about a minute",
        [str(offline.BUILD_BASE), "--suite", "bookworm", "--tag", BASE_IMAGE],
        "it needs debootstrap, root and a Debian mirror (http://deb.debian.org)",
    )
    tag = f"{IMAGE_REPO}:{recipe()}"
    if offline.image_id(tag) is not None:
        progress(f"  package image {tag}: cached")
        return tag
    progress(f"  building the package image {tag} (OpenStack Zed from Debian 12, about 2 minutes)")
    started = time.monotonic()
    offline.run(
        [
            offline.docker_binary(),
            "build",
            "--force-rm",
            "--build-arg",
            f"BASE_IMAGE={BASE_IMAGE}",
            "--label",
            "org.mlstack.testbed=openstack",
            "--tag",
            tag,
            str(HERE),
        ],
        what=f"building {tag}",
        hint=f"build it by hand to see the whole output: docker build -t {tag} {HERE}",
        timeout=1800,
        env={"DOCKER_BUILDKIT": "0"},
    )
    progress(f"    built ({time.monotonic() - started:.0f}s)")
    return tag


def baked_tag(image: str, password: str) -> str:
    """The baked image's tag: the package image's id and what the bake runs."""
    digest = hashlib.sha256((offline.image_id(image) or image).encode() + password.encode())
    for path in sorted([HERE / "inside.py", *HERE.glob("templates/*"), *HERE.glob("testbed_neutron/*.py")]):
        digest.update(path.name.encode() + path.read_bytes())
    return f"{image}-baked-{digest.hexdigest()[:12]}"


def ensure_baked(bed: Bed, image: str, progress: Progress = offline.say) -> str:
    """The baked image of ``image`` (built once: a container runs ``inside.py bake``, then is committed)."""
    tag = baked_tag(image, bed.password)
    if offline.image_id(tag) is not None:
        progress(f"  baked image {tag}: cached")
        return tag
    progress(f"  baking the databases into {tag} (once: migrations, keystone, the compute host)")
    started = time.monotonic()
    name = f"{bed.name}-bake"
    docker_cli.run(["rm", "--force", name], check=False)
    try:
        result = docker_cli.run(
            [
                "run", "--init", "--name", name, "--hostname", "testbed",
                "--volume", f"{HERE}:/testbed:ro",
                "--env", f"TESTBED_PORT_BASE={bed.port_base}", "--env", f"TESTBED_PASSWORD={bed.password}",
                image, "python3", "/testbed/inside.py", "bake",
            ],
            check=False,
            timeout=1800,
        )  # fmt: skip
        if result.returncode != 0 or "BAKED" not in result.stdout:
            raise ProviderError(
                f"baking the test bed's databases failed (exit {result.returncode}):\n"
                f"{offline.tail(result.stdout + result.stderr, 25)}",
                f"run it by hand to see everything: docker run --rm -v {HERE}:/testbed:ro {image} "
                "python3 /testbed/inside.py bake",
            )
        docker_cli.run(
            ["commit", "--change", 'CMD ["/bin/bash"]', name, tag], what=f"committing {tag}", timeout=600
        )
    finally:
        docker_cli.run(["rm", "--force", "--volumes", name], check=False)
    progress(f"    baked ({time.monotonic() - started:.0f}s)")
    return tag


def is_ready(bed: Bed) -> bool:
    """The container runs and inside.py has finished."""
    result = docker_cli.run(["exec", bed.name, "test", "-f", READY], check=False)
    return result.returncode == 0


def start(bed: Bed, image: str, progress: Progress = offline.say) -> None:
    """Replace any stopped or outdated container of ours by a new one of ``image``."""
    docker_cli.run(["rm", "--force", bed.name], check=False)
    ports = [arg for s in UPSTREAM for arg in ("--publish", f"127.0.0.1:{bed.port(s)}:{bed.port(s)}")]
    docker_cli.run(
        [
            "run", "--detach", "--init", "--name", bed.name, "--hostname", "testbed",
            "--label", "org.mlstack.testbed=openstack",
            "--volume", f"{HERE}:/testbed:ro",
            "--env", f"TESTBED_PORT_BASE={bed.port_base}", "--env", f"TESTBED_PASSWORD={bed.password}",
            *ports, image, "python3", "/testbed/inside.py",
        ],
        what=f"starting the test bed container {bed.name}",
    )  # fmt: skip
    progress(f"  container {bed.name} started from {image}")


def wait_ready(bed: Bed, timeout: float = 900, progress: Progress = offline.say) -> None:
    """Until inside.py says READY; its last log lines when the container stops or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = docker_cli.inspect("container", bed.name)
        if info is None or not info["State"]["Running"]:
            raise ProviderError(f"the test bed stopped while starting:\n{logs(bed)}", "make openstack-up")
        if is_ready(bed):
            return
        time.sleep(2)
    raise ProviderError(
        f"the test bed was not ready within {timeout:.0f}s:\n{logs(bed)}",
        f"see the services' logs: docker exec {bed.name} ls /var/log/testbed",
    )


def logs(bed: Bed, lines: int = 25) -> str:
    result = docker_cli.run(["logs", "--tail", str(lines), bed.name], check=False)
    return offline.tail(result.stdout + result.stderr, lines)


def apis_answer(bed: Bed, timeout: float = 60) -> None:
    """Every API answers an unauthenticated GET of its root (version document, 200/300/401) from here."""
    deadline = time.monotonic() + timeout
    for service in UPSTREAM:
        address = f"http://127.0.0.1:{bed.port(service)}/"
        while True:
            try:
                with urllib.request.urlopen(address, timeout=10):
                    break
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    break
                error: object = exc
            except OSError as exc:
                error = exc
            if time.monotonic() > deadline:
                raise ProviderError(f"{service} at {address} does not answer: {error}", "make openstack-up")
            time.sleep(1)


def up(bed: Bed | None = None, progress: Progress = offline.say) -> Bed:
    """The test bed running and answering: reused when it already runs from the current image."""
    bed = bed or Bed.from_env()
    docker_cli.ensure_engine()
    image = ensure_ready_image(bed, progress)
    info = docker_cli.inspect("container", bed.name)
    running = info is not None and info["State"]["Running"]
    if running and info is not None and info["Config"]["Image"] == image and is_ready(bed):
        progress(f"  test bed {bed.name}: running, reused")
    else:
        started = time.monotonic()
        start(bed, image, progress)
        wait_ready(bed, progress=progress)
        progress(f"  control plane ready ({time.monotonic() - started:.0f}s after the container started)")
    apis_answer(bed)
    return bed


def down(bed: Bed | None = None, progress: Progress = offline.say) -> None:
    """Remove the container (the cached images stay)."""
    bed = bed or Bed.from_env()
    docker_cli.run(["rm", "--force", "--volumes", bed.name], check=False)
    progress(f"test bed {bed.name} removed (images kept)")
