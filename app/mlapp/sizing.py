"""How many gunicorn worker processes and threads the web front runs, from the CPUs the container may
really use: the cgroup CPU limit (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us) when there is one,
else the CPUs this process may run on (os.sched_getaffinity), else os.cpu_count(). Standard library only:
gunicorn.conf.py imports it before any app code.

Environment: WEB_WORKERS [2 x CPUs + 1, at most 8], WEB_THREADS [8] threads per worker process.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
MAX_WORKERS = 8
DEFAULT_THREADS = 8
RESERVED_THREADS = 2  # threads per process that never wait for a Celery worker (health, pages)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _own_cgroup_dirs(root: Path, proc_cgroup: Path, v2: bool) -> list[Path]:
    """This process's cgroup directory and its parents up to `root` (the limit may sit on any of them);
    only `root` when /proc/self/cgroup names a path not visible here (a cgroup namespace)."""
    relative = None
    for line in (_read(proc_cgroup) or "").splitlines():
        hierarchy, controllers, path = [*line.split(":", 2), "", ""][:3]
        if (v2 and hierarchy == "0" and controllers == "") or (not v2 and "cpu" in controllers.split(",")):
            relative = path.lstrip("/")
            break
    dirs = []
    if relative:
        current = root / relative
        while current != root and root in current.parents:
            if current.is_dir():
                dirs.append(current)
            current = current.parent
    dirs.append(root)
    return dirs


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP) -> float | None:
    """The CPU limit in CPUs (quota / period, the smallest along the hierarchy), or None when unlimited."""
    limits: list[float] = []
    if (root / "cgroup.controllers").exists():  # cgroup v2
        for directory in _own_cgroup_dirs(root, proc_cgroup, v2=True):
            fields = (_read(directory / "cpu.max") or "").split()
            if len(fields) == 2 and fields[0] != "max":
                try:
                    quota, period = int(fields[0]), int(fields[1])
                except ValueError:
                    continue
                if quota > 0 and period > 0:
                    limits.append(quota / period)
    else:  # cgroup v1: the cpu controller is mounted at cpu,cpuacct (or cpu)
        for mount in (root / "cpu,cpuacct", root / "cpu"):
            if not mount.is_dir():
                continue
            for directory in _own_cgroup_dirs(mount, proc_cgroup, v2=False):
                try:
                    quota = int(_read(directory / "cpu.cfs_quota_us") or "-1")
                    period = int(_read(directory / "cpu.cfs_period_us") or "0")
                except ValueError:
                    continue
                if quota > 0 and period > 0:
                    limits.append(quota / period)
            break
    return min(limits) if limits else None


def available_cpus(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_SELF_CGROUP) -> int:
    """Whole CPUs this process may use: the cgroup limit rounded up, never more than its CPU affinity."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root, proc_cgroup)
    if limit is not None:
        cpus = min(cpus, max(1, math.ceil(limit)))
    return max(1, cpus)


def _positive_int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer") from None
    if value < 1:
        raise ValueError(f"{name}={raw!r} must be at least 1")
    return value


def web_workers(env: Mapping[str, str], cpus: int) -> int:
    """WEB_WORKERS, else 2 x CPUs + 1, at most MAX_WORKERS."""
    return _positive_int(env, "WEB_WORKERS") or min(2 * cpus + 1, MAX_WORKERS)


def web_threads(env: Mapping[str, str]) -> int:
    """WEB_THREADS, else DEFAULT_THREADS; at least RESERVED_THREADS + 1."""
    return max(_positive_int(env, "WEB_THREADS") or DEFAULT_THREADS, RESERVED_THREADS + 1)


def max_waiting(env: Mapping[str, str]) -> int:
    """Requests of one process allowed to wait for a Celery worker at once: its threads minus the reserve."""
    return web_threads(env) - RESERVED_THREADS
