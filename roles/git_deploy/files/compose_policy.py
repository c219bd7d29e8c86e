"""What a compose file that came with a push may ask of the host (roles git_deploy and remote_workers).

A push may change the app's code and its model; it must not change what the containers may do to the host.
Before a pushed compose.yaml is used (by mlstack-deploy on prodserver, by mlstack-worker-receive on a worker
machine), this checks it twice:

- as written (YAML): no `include`, no `env_file`, `label_file` or `extends` (they read other host files
  while compose runs as root), only the stack's services, and no other compose file next to it (compose
  would merge `compose.override.yaml` in);
- as compose resolves it (`docker compose config --format json`, after the first check passed): no
  `privileged`, no `cap_add` beyond Docker's default capabilities, no host (or other containers')
  network, pid, ipc, uts, userns or cgroup namespace, no devices, no `security_opt` but
  no-new-privileges, no other runtime or cgroup parent, no `volumes_from`, no privileged hooks, no API
  socket; bind mounts (and secret or config files) only of the allowed paths, exactly, read-only unless
  the path may be written; named volumes and networks without a driver, driver options or `external`;
  and every service keeps the stack's hardening: `cap_drop: [ALL]` and no `cap_add`,
  `security_opt: [no-new-privileges:true]`, `read_only: true`, a `mem_limit` and a `pids_limit`.

    python3 compose_policy.py --project-directory DIR [--file DIR/compose.yaml] [--env-file FILE]... \
        [--project NAME] --allow PATH... [--allow-write PATH...] --services rabbitmq,web,worker,train

Exit 0 and "compose.yaml: allowed" when it passes; exit 1 with one line per refusal otherwise; exit 2 when
the file cannot be read. Standard library plus PyYAML (python3-yaml), so it runs on the servers as is.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

# Compose files compose would read besides (or instead of) compose.yaml in the project directory.
OTHER_COMPOSE_FILES = (
    "compose.yml",
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
)
TOP_LEVEL_KEYS = frozenset({"name", "version", "services", "volumes", "networks", "secrets", "configs"})
# Service keys that make compose read host files other than the compose file.
RAW_REFUSED_SERVICE_KEYS = ("env_file", "label_file", "extends")
NAMESPACE_KEYS = ("network_mode", "pid", "ipc", "uts", "userns_mode", "cgroup")
REFUSED_IF_SET = ("cgroup_parent", "devices", "device_cgroup_rules", "gpus", "volumes_from", "provider")
ALLOWED_SECURITY_OPTS = frozenset({"no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"})
# The stack's services run with no capability at all (none of them needs one): cap_drop ALL is required and
# cap_add refused, whatever it names.


def other_compose_files(project_dir: Path) -> list[str]:
    """Refusals for compose files next to compose.yaml that compose would also read."""
    return [
        f"{name}: not allowed (only compose.yaml is used; compose would merge it in)"
        for name in OTHER_COMPOSE_FILES
        if (project_dir / name).exists() or (project_dir / name).is_symlink()
    ]


def check_written(document: Any, services: Iterable[str]) -> list[str]:
    """Refusals for the compose file as written (parsed YAML, before compose reads anything else)."""
    if not isinstance(document, Mapping):
        return ["compose.yaml: not a mapping"]
    allowed = set(services)
    problems = []
    for key in document:
        if not (isinstance(key, str) and (key in TOP_LEVEL_KEYS or key.startswith("x-"))):
            problems.append(f"top-level {key!r}: not allowed")
    declared = document.get("services") or {}
    if not isinstance(declared, Mapping):
        return [*problems, "services: not a mapping"]
    for name, service in declared.items():
        if name not in allowed:
            problems.append(f"service {name}: not one of the stack's services ({', '.join(sorted(allowed))})")
        if isinstance(service, Mapping):
            problems.extend(
                f"service {name}: {key} is not allowed (it reads other host files)"
                for key in RAW_REFUSED_SERVICE_KEYS
                if key in service
            )
    return problems


def _is_host_or_container(value: Any) -> bool:
    return isinstance(value, str) and (value == "host" or value.startswith("container:"))


def _capability(name: Any) -> str:
    return str(name).upper().removeprefix("CAP_")


def _missing_hardening(where: str, service: Mapping[str, Any]) -> list[str]:
    """Refusals for a service without the stack's hardening (a push may not take it away)."""
    problems = []
    if "ALL" not in {_capability(cap) for cap in service.get("cap_drop") or []}:
        problems.append(f"{where}: cap_drop [ALL] is required")
    if not any(
        str(opt).replace(" ", "") in ALLOWED_SECURITY_OPTS for opt in service.get("security_opt") or []
    ):
        problems.append(f"{where}: security_opt no-new-privileges:true is required")
    if service.get("read_only") is not True:
        problems.append(f"{where}: read_only: true is required (a read-only root filesystem)")
    for key in ("mem_limit", "pids_limit"):
        try:
            limit = int(service.get(key) or 0)
        except (TypeError, ValueError):
            limit = 0
        if limit <= 0:
            problems.append(f"{where}: a {key} is required")
    return problems


def _path_problem(
    where: str, source: str, allowed: set[str], writable: set[str], read_only: bool
) -> str | None:
    path = os.path.normpath(source)
    if path not in allowed:
        return (
            f"{where}: {source} is not one of the paths a container may mount ({', '.join(sorted(allowed))})"
        )
    if os.path.realpath(path) != path:
        return f"{where}: {source} goes through a symbolic link"
    if not read_only and path not in writable:
        return f"{where}: {source} must be mounted read-only"
    return None


def _check_service(name: str, service: Mapping[str, Any], allowed: set[str], writable: set[str]) -> list[str]:
    where = f"service {name}"
    problems = []
    if service.get("privileged"):
        problems.append(f"{where}: privileged is not allowed")
    for cap in service.get("cap_add") or []:
        problems.append(f"{where}: cap_add {cap} is not allowed (the services run with no capability)")
    problems.extend(_missing_hardening(where, service))
    for key in NAMESPACE_KEYS:
        if _is_host_or_container(service.get(key)):
            problems.append(f"{where}: {key} {service[key]} is not allowed")
    for key in REFUSED_IF_SET:
        if service.get(key):
            problems.append(f"{where}: {key} is not allowed")
    if service.get("runtime") not in (None, "", "runc"):
        problems.append(f"{where}: runtime {service['runtime']} is not allowed")
    if service.get("use_api_socket"):
        problems.append(f"{where}: use_api_socket is not allowed")
    for option in service.get("security_opt") or []:
        if str(option).replace(" ", "") not in ALLOWED_SECURITY_OPTS:
            problems.append(f"{where}: security_opt {option} is not allowed (only no-new-privileges)")
    reservations = ((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
    if reservations.get("devices"):
        problems.append(f"{where}: deploy.resources.reservations.devices is not allowed")
    for hook in ("post_start", "pre_stop"):
        if any(isinstance(entry, Mapping) and entry.get("privileged") for entry in service.get(hook) or []):
            problems.append(f"{where}: a privileged {hook} hook is not allowed")
    for volume in service.get("volumes") or []:
        kind = volume.get("type")
        if kind == "bind":
            problem = _path_problem(
                f"{where}: bind mount",
                str(volume.get("source", "")),
                allowed,
                writable,
                bool(volume.get("read_only")),
            )
            if problem:
                problems.append(problem)
        elif kind not in ("volume", "tmpfs"):
            problems.append(f"{where}: a {kind} mount is not allowed")
    return problems


def check_resolved(
    config: Any, allowed_paths: Iterable[str], writable_paths: Iterable[str] = ()
) -> list[str]:
    """Refusals for the compose model as `docker compose config --format json` resolves it."""
    if not isinstance(config, Mapping):
        return ["compose config: not a mapping"]
    allowed = {os.path.normpath(path) for path in allowed_paths}
    writable = {os.path.normpath(path) for path in writable_paths} & allowed
    problems = []
    for name, service in (config.get("services") or {}).items():
        problems.extend(_check_service(name, service, allowed, writable))
    for name, volume in (config.get("volumes") or {}).items():
        volume = volume or {}
        if volume.get("driver") not in (None, "", "local") or volume.get("driver_opts"):
            problems.append(f"volume {name}: a driver or driver_opts is not allowed")
        if volume.get("external"):
            problems.append(f"volume {name}: external is not allowed")
    for name, network in (config.get("networks") or {}).items():
        network = network or {}
        if network.get("driver") not in (None, "", "bridge") or network.get("external"):
            problems.append(f"network {name}: only the default bridge driver is allowed")
    for section in ("secrets", "configs"):
        for name, entry in (config.get(section) or {}).items():
            if isinstance(entry, Mapping) and entry.get("file"):
                problem = _path_problem(f"{section} {name}", str(entry["file"]), allowed, writable, True)
                if problem:
                    problems.append(problem)
    return problems


def resolved_config(args: argparse.Namespace) -> Any:
    """`docker compose config --format json` of the file, every profile included."""
    argv = ["docker", "compose", "--project-directory", str(args.project_directory), "-f", str(args.file)]
    if args.project:
        argv += ["-p", args.project]
    for env_file in args.env_file:
        argv += ["--env-file", env_file]
    argv += ["--profile", "*", "config", "--format", "json"]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise ValueError(f"docker compose config failed: {message}")
    return json.loads(result.stdout)


def check(args: argparse.Namespace) -> list[str]:
    problems = other_compose_files(args.project_directory)
    try:
        document = yaml.safe_load(args.file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read {args.file.name}: {exc}") from exc
    problems += check_written(document, args.services)
    if problems:  # compose must not read the file before the written form passed
        return problems
    return check_resolved(resolved_config(args), args.allow, args.allow_write)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Check a pushed compose file against the stack's policy.")
    parser.add_argument("--project-directory", type=Path, required=True)
    parser.add_argument("--file", type=Path, help="the compose file (default: compose.yaml there)")
    parser.add_argument("--env-file", action="append", default=[])
    parser.add_argument("--project", default="")
    parser.add_argument("--allow", action="append", default=[], help="a host path containers may mount")
    parser.add_argument(
        "--allow-write", action="append", default=[], help="an allowed path mounted read-write"
    )
    parser.add_argument("--services", type=lambda text: [s for s in text.split(",") if s], required=True)
    args = parser.parse_args(argv)
    if args.file is None:
        args.file = args.project_directory / "compose.yaml"
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        problems = check(args)
    except ValueError as exc:
        print(f"compose.yaml: {exc}")
        return 2
    for problem in problems:
        print(f"compose.yaml refused: {problem}")
    if problems:
        return 1
    print("compose.yaml: allowed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
