"""The docker role's default path, Docker's apt repository, against a signed stand-in for it.

Docker's repository is not reachable from CI, so prodserver serves a repository of the same layout
(``<url>/dists/<suite>/stable/binary-<arch>``, the key at ``<url>/gpg``) on its own loopback, signed with
a key made for the run. Its docker-ce, docker-ce-cli and docker-compose-plugin are the distribution's
docker.io, docker-cli and docker-compose renamed (downloaded on the machine, repackaged without their
conflicts with Docker's names), so Docker Engine really runs afterwards; containerd.io and
docker-buildx-plugin are empty packages (the distribution's containerd comes in as docker.io's
dependency). The role's ``docker_obsolete_packages`` is emptied, since the stand-ins need those packages.

What is tested is the role's own path on a fresh machine: the prerequisites (python3-debian, gpg), the
key downloaded and its fingerprint checked before the deb822 source names it, the packages installed,
and a second run with nothing to change; and first, a key with another fingerprint refused, removed and
no source written.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import pytest
import yaml

from provisioner.inventory import write_inventory
from provisioner.offline import LOCAL_MACHINE_VARS
from provisioner.settings import Settings
from tests.integration.roles.playbook import Run, docker_role_playbook, keep_log, run_configuration
from tests.machines_fixtures import LocalMachines, docker_engine, machine_settings, machines_up  # noqa: F401

SUITE = "trixie"  # the local machines' release
ARCH = "amd64"
PORT = 8765  # on prodserver's own loopback
REMOTE_ROOT = "/srv/docker-repo"
URL = f"http://127.0.0.1:{PORT}/debian"
KEYRING = "/etc/apt/keyrings/docker.asc"
SOURCE = "/etc/apt/sources.list.d/docker.sources"
# Docker's package -> the distribution package repackaged under its name ("" = an empty package).
PACKAGES = {
    "docker-ce": "docker.io",
    "docker-ce-cli": "docker-cli",
    "docker-compose-plugin": "docker-compose",
    "containerd.io": "",
    "docker-buildx-plugin": "",
}
VERSION = "99.0-mlstack"
# Run on the machine: download the distribution's packages and rename them (python3 is on every machine,
# dpkg-deb too; the package lists are emptied again afterwards, as on a fresh machine).
REPACKAGE = """
import pathlib, re, subprocess, sys
work = pathlib.Path(sys.argv[1]); out = work / "out"; out.mkdir(parents=True)
pairs = dict(arg.split("=") for arg in sys.argv[2:])
subprocess.run(["apt-get", "update", "-qq"], check=True)
subprocess.run(["apt-get", "download", "-qq", *pairs.values()], cwd=work, check=True)
for new, old in pairs.items():
    deb = next(work.glob(f"{old}_*.deb"))
    tree = work / new
    subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
    control = tree / "DEBIAN" / "control"
    relations = r"^(Conflicts|Breaks|Replaces|Provides):.*\\n(?: .*\\n)*"
    text = re.sub(relations, "", control.read_text(), flags=re.M)
    text = re.sub(r"^Package: .*$", f"Package: {new}", text, flags=re.M)
    text = re.sub(r"^Version: .*$", "Version: VERSION", text, flags=re.M)
    control.write_text(text)
    # Uncompressed: xz-compressing docker.io's 100 MB again would take minutes on a busy machine.
    build = ["dpkg-deb", "-Znone", "--root-owner-group", "-b", str(tree), str(out / f"{new}.deb")]
    subprocess.run(build, check=True)
for lists in pathlib.Path("/var/lib/apt/lists").glob("*_*"):
    lists.unlink()
""".replace("VERSION", VERSION)
PLAYBOOK = docker_role_playbook(
    "Docker Engine from Docker's apt repository (a stand-in), as playbooks/prodserver.yml runs it"
)


def _run(argv: list[str], cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=timeout)
    assert result.returncode == 0, f"{argv[:4]} failed: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


def _new_key(home: Path, name: str) -> str:
    """A signing key in GnuPG home ``home``; returns its fingerprint."""
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--passphrase", ""]
    _run([*gpg, "--quick-gen-key", f"{name} <{name}@example.invalid>", "ed25519", "sign", "never"])
    listing = _run([*gpg, "--with-colons", "--list-keys"]).stdout
    return next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))


def _export(home: Path, target: Path) -> None:
    target.write_text(_run(["gpg", "--homedir", str(home), "--armor", "--export"]).stdout, encoding="utf-8")


def _repackage_on(machines: LocalMachines, pool: Path) -> None:
    """The distribution's Docker packages under Docker's names, built on prodserver, copied to ``pool``."""
    name = machines["prodserver"].name
    renamed = [f"{new}={old}" for new, old in PACKAGES.items() if old]
    started = time.monotonic()
    _run(["docker", "exec", name, "python3", "-c", REPACKAGE, "/var/tmp/standin", *renamed], timeout=600)
    print(f"stand-in packages built on {name} in {time.monotonic() - started:.0f} s")
    pool.mkdir(parents=True)
    _run(["docker", "cp", f"{name}:/var/tmp/standin/out/.", str(pool)])
    for name, old in PACKAGES.items():
        if old:
            continue
        tree = pool.parent / "build" / name
        (tree / "DEBIAN").mkdir(parents=True)
        control = f"Package: {name}\nVersion: {VERSION}\nArchitecture: all\nMaintainer: mlstack tests\n"
        control += "Description: empty stand-in for Docker's package (tests)\n"
        (tree / "DEBIAN" / "control").write_text(control, encoding="utf-8")
        _run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(pool / f"{name}.deb")])


def _index_and_sign(base: Path, signer: Path) -> None:
    """The indexes of the packages under ``base/pool``, in Docker's layout, InRelease signed by ``signer``."""
    index_dir = base / "dists" / SUITE / "stable" / f"binary-{ARCH}"
    index_dir.mkdir(parents=True)
    packages = _run(["dpkg-scanpackages", "--multiversion", "pool"], cwd=base).stdout
    (index_dir / "Packages").write_text(packages, encoding="utf-8")
    (index_dir / "Packages.gz").write_bytes(gzip.compress(packages.encode()))
    dist = base / "dists" / SUITE
    lines = [
        "Origin: mlstack-tests",
        f"Suite: {SUITE}",
        f"Codename: {SUITE}",
        "Components: stable",
        f"Architectures: {ARCH}",
        f"Date: {formatdate(usegmt=True)}",
        "SHA256:",
    ]
    for path in sorted(index_dir.iterdir()):
        data = path.read_bytes()
        lines.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {path.relative_to(dist)}")
    (dist / "Release").write_text("\n".join(lines) + "\n", encoding="utf-8")
    gpg = ["gpg", "--homedir", str(signer), "--batch", "--yes"]
    _run([*gpg, "--clearsign", "--output", str(dist / "InRelease"), str(dist / "Release")])
    _export(signer, base / "gpg")


@dataclass
class RepositoryRuns:
    machines: LocalMachines
    fingerprint: str
    refused: Run
    left_after_refusal: list[str]  # of the key and the source, what existed right after the refused run
    first: Run
    second: Run


@pytest.fixture(scope="module")
def repository_runs(docker_engine: None) -> Iterator[RepositoryRuns]:  # noqa: F811
    workdir = Path(tempfile.mkdtemp(prefix="mlstack-docker-repo-"))
    signer, other = workdir / "gnupg-signer", workdir / "gnupg-other"
    fingerprint = _new_key(signer, "signer")
    _new_key(other, "other")
    playbook = workdir / "docker.yml"
    playbook.write_text(PLAYBOOK, encoding="utf-8")
    base_vars = dict(
        LOCAL_MACHINE_VARS,
        docker_install_source="docker",
        docker_apt_repository_url=URL,
        docker_obsolete_packages=[],
        docker_apt_gpg_key_fingerprint=fingerprint,
    )
    good_vars, wrong_vars = workdir / "good.yml", workdir / "wrong.yml"
    good_vars.write_text(yaml.safe_dump(base_vars), encoding="utf-8")
    wrong_vars.write_text(yaml.safe_dump(dict(base_vars, docker_apt_gpg_key_url=f"{URL}/other.gpg")), "utf-8")
    log = workdir / "ansible.log"
    print(f"ansible output: {log}")
    settings = machine_settings(workdir / "machines")
    try:
        yield from _runs(workdir, settings, signer, other, fingerprint, playbook, good_vars, wrong_vars, log)
    finally:
        keep_log(log, "docker-repository")
        shutil.rmtree(workdir, ignore_errors=True)


def _runs(
    workdir: Path,
    settings: Settings,
    signer: Path,
    other: Path,
    fingerprint: str,
    playbook: Path,
    good_vars: Path,
    wrong_vars: Path,
    log: Path,
) -> Iterator[RepositoryRuns]:
    with machines_up(settings) as machines:
        name = machines["prodserver"].name
        base = workdir / "repo" / "debian"
        _repackage_on(machines, base / "pool" / "stable")
        _index_and_sign(base, signer)
        _export(other, base / "other.gpg")
        _run(["docker", "cp", f"{workdir / 'repo'}/.", f"{name}:{REMOTE_ROOT}"])
        _run(["docker", "exec", "--detach", name, "python3", "-m", "http.server", str(PORT),
              "--bind", "127.0.0.1", "--directory", REMOTE_ROOT])  # fmt: skip
        inventory = write_inventory(machines.machines, settings.inventory_dir, settings.known_hosts)
        refused = run_configuration(inventory, wrong_vars, log=log, playbook=playbook, timeout=900)
        left = [
            path
            for path in (KEYRING, SOURCE)
            if machines.docker_exec("prodserver", "test", "-e", path).returncode == 0
        ]
        first = run_configuration(inventory, good_vars, log=log, playbook=playbook, timeout=900)
        second = run_configuration(inventory, good_vars, log=log, playbook=playbook, timeout=900)
        print(f"first run {first.seconds:.0f} s, second run {second.seconds:.0f} s")
        yield RepositoryRuns(machines, fingerprint, refused, left, first, second)


def test_a_key_with_another_fingerprint_is_refused_and_removed(repository_runs: RepositoryRuns) -> None:
    runs = repository_runs
    assert runs.refused.rc != 0, runs.refused.explain()
    assert runs.fingerprint in runs.refused.output, runs.refused.explain()
    assert "was not added" in runs.refused.output, runs.refused.explain()
    assert runs.left_after_refusal == [], runs.left_after_refusal


def test_docker_installs_from_the_repository_with_the_checked_key(repository_runs: RepositoryRuns) -> None:
    runs = repository_runs
    assert runs.first.rc == 0 and runs.first.total("failed") == 0, runs.first.explain()
    machines = runs.machines
    source = machines.docker_exec("prodserver", "cat", SOURCE)
    assert source.returncode == 0, source.stderr
    assert f"URIs: {URL}" in source.stdout and f"Signed-By: {KEYRING}" in source.stdout, source.stdout
    for package in PACKAGES:
        status = machines.docker_exec("prodserver", "dpkg-query", "-W", "-f=${Version}", package)
        assert status.stdout == VERSION, f"{package}: {status.stdout!r} {status.stderr}"
    engine = machines.docker_exec("prodserver", "docker", "info", "--format", "{{.ServerVersion}}")
    assert engine.returncode == 0 and engine.stdout.strip(), engine.stderr
    compose = machines.docker_exec("prodserver", "docker", "compose", "version")
    assert compose.returncode == 0, compose.stderr


def test_a_second_run_changes_nothing(repository_runs: RepositoryRuns) -> None:
    runs = repository_runs
    assert runs.second.rc == 0, runs.second.explain()
    assert runs.second.changed("prodserver") == 0, runs.second.changed_tasks()
