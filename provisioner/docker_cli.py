"""The local Docker Engine through the ``docker`` command line: run it, parse its JSON, and turn its failures
into messages for people (not installed, not running, no permission) instead of tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

from provisioner.errors import ProviderError

DEFAULT_TIMEOUT = 120.0

_NOT_RUNNING = ("cannot connect to the docker daemon", "is the docker daemon running", "error during connect")
_NO_PERMISSION = ("permission denied while trying to connect",)


def _binary() -> str:
    path = shutil.which("docker")
    if path is None:
        raise ProviderError(
            "Docker is not installed (no `docker` command on PATH); the local provider runs the machines "
            "as containers on the local Docker Engine",
            "install it (apt-get install docker.io), or use --provider openstack",
        )
    return path


def binary() -> str:
    """The path of the ``docker`` command; ProviderError when it is not installed."""
    return _binary()


def _engine_error(stderr: str) -> ProviderError | None:
    """A ProviderError when ``stderr`` says the engine is unreachable, else None."""
    lowered = stderr.lower()
    if any(text in lowered for text in _NO_PERMISSION):
        return ProviderError(
            "no permission to use the Docker Engine socket",
            "run as root, or add yourself to the docker group (then log in again)",
        )
    if any(text in lowered for text in _NOT_RUNNING):
        return ProviderError(
            "Docker Engine is not running",
            "start it: scripts/ensure-docker.sh (or sudo systemctl start docker), then run again",
        )
    return None


def error_text(stderr: str) -> str:
    """Docker's error without its boilerplate ("Run 'docker run --help'", deprecation notices)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    useful = [
        line.removeprefix("docker: ")
        for line in lines
        if not line.startswith(
            ("Run 'docker", "See 'docker", "DEPRECATED:", "Install the buildx", "https://")
        )
    ]
    return " ".join(useful)


def run(
    args: Sequence[str],
    *,
    check: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
    what: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``docker ARGS``; with ``check``, a failure raises ProviderError naming ``what``."""
    argv = [_binary(), *args]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ProviderError(
            f"`docker {' '.join(args[:2])}` did not finish within {timeout:.0f}s",
            "is the Docker Engine overloaded or hung? `docker info` shows whether it answers",
        ) from None
    if result.returncode != 0:
        engine = _engine_error(result.stderr)
        if engine is not None:
            raise engine
        if check:
            action = what or "docker " + " ".join(args[:2])
            raise ProviderError(f"{action} failed: {error_text(result.stderr) or result.returncode}")
    return result


def ensure_engine() -> str:
    """The Docker Engine's version; raises ProviderError when it is missing or not answering."""
    return run(
        ["version", "--format", "{{.Server.Version}}"], what="asking the Docker Engine its version"
    ).stdout.strip()


def inspect(kind: str, name: str) -> dict[str, Any] | None:
    """``docker KIND inspect NAME`` as a dict (container, volume, network, image); None when absent."""
    result = run([kind, "inspect", name], check=False)
    if result.returncode != 0:
        if "no such" in result.stderr.lower() or "not found" in result.stderr.lower():
            return None
        detail = error_text(result.stderr) or result.returncode
        raise ProviderError(f"docker {kind} inspect {name} failed: {detail}")
    data = json.loads(result.stdout)
    return data[0] if data else None


def names(kind: str, label: str) -> list[str]:
    """Names of the containers (all states), volumes or networks that carry ``label`` (``key=value``)."""
    if kind == "container":
        args = ["ps", "--all", "--filter", f"label={label}", "--format", "{{.Names}}"]
    else:
        args = [kind, "ls", "--filter", f"label={label}", "--format", "{{.Name}}"]
    out = run(args, what=f"listing {kind}s").stdout
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def published_host_ports() -> set[int]:
    """Every host port any container (running or stopped) has asked for, so new machines avoid them."""
    ids = run(["ps", "--all", "--quiet"], what="listing containers").stdout.split()
    if not ids:
        return set()
    result = run(["container", "inspect", *ids], check=False)
    if result.returncode != 0:  # a container vanished between the two calls: ask again next time
        return set()
    ports: set[int] = set()
    for container in json.loads(result.stdout):
        for bindings in ((container.get("HostConfig") or {}).get("PortBindings") or {}).values():
            for binding in bindings or []:
                if str(binding.get("HostPort") or "").isdigit():
                    ports.add(int(binding["HostPort"]))
    return ports
