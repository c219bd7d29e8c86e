"""Worker and thread counts of the web front (mlapp.sizing, used by app/gunicorn.conf.py) from fake cgroup
trees: a CPU limit of the container (cgroup v2 cpu.max, cgroup v1 CFS quota) counts, the host's CPUs do
not; no limit falls back to the CPUs this process may run on."""

from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest

from mlapp.sizing import available_cpus, cgroup_cpu_limit, max_waiting, web_threads, web_workers

AFFINITY = len(os.sched_getaffinity(0))


def v2_tree(tmp_path: Path, limits: dict[str, str], own: str = "/") -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    for relative, value in limits.items():
        directory = root / relative.strip("/")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "cpu.max").write_text(value + "\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(f"0::{own}\n")
    return root, proc


def v1_tree(tmp_path: Path, quota: str, period: str, mount: str = "cpu,cpuacct") -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    directory = root / mount
    directory.mkdir(parents=True)
    (directory / "cpu.cfs_quota_us").write_text(quota + "\n")
    (directory / "cpu.cfs_period_us").write_text(period + "\n")
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text("12:memory:/\n4:cpu,cpuacct:/\n1:name=systemd:/\n")
    return root, proc


def test_v2_limit_in_the_namespace_root(tmp_path):
    root, proc = v2_tree(tmp_path, {"/": "150000 100000"})
    assert cgroup_cpu_limit(root, proc) == 1.5
    assert available_cpus(root, proc) == min(2, AFFINITY)


def test_v2_unlimited_falls_back_to_the_affinity(tmp_path):
    root, proc = v2_tree(tmp_path, {"/": "max 100000"})
    assert cgroup_cpu_limit(root, proc) is None
    assert available_cpus(root, proc) == AFFINITY


def test_v2_the_smallest_limit_along_the_own_cgroup_path_counts(tmp_path):
    root, proc = v2_tree(
        tmp_path,
        {"/": "max 100000", "/system.slice": "400000 100000", "/system.slice/docker-1.scope": "50000 100000"},
        own="/system.slice/docker-1.scope",
    )
    assert cgroup_cpu_limit(root, proc) == 0.5
    assert available_cpus(root, proc) == 1  # never less than one


def test_v2_own_path_not_visible_uses_the_root(tmp_path):
    """A cgroup namespace: /proc/self/cgroup names a path of the host's tree, the limit sits at the root."""
    root, proc = v2_tree(tmp_path, {"/": "100000 100000"}, own="/../system.slice/docker-2.scope")
    assert cgroup_cpu_limit(root, proc) == 1.0


def test_v1_cfs_quota(tmp_path):
    root, proc = v1_tree(tmp_path, "300000", "100000")
    assert cgroup_cpu_limit(root, proc) == 3.0
    assert available_cpus(root, proc) == min(3, AFFINITY)


def test_v1_no_quota(tmp_path):
    root, proc = v1_tree(tmp_path, "-1", "100000", mount="cpu")
    assert cgroup_cpu_limit(root, proc) is None


def test_no_cgroup_files_at_all(tmp_path):
    assert cgroup_cpu_limit(tmp_path / "none", tmp_path / "none-either") is None
    assert available_cpus(tmp_path / "none", tmp_path / "none-either") == AFFINITY


def test_worker_and_thread_counts():
    assert [web_workers({}, cpus) for cpus in (1, 2, 3, 4, 64)] == [3, 5, 7, 8, 8]
    assert web_workers({"WEB_WORKERS": "2"}, 64) == 2
    assert web_threads({}) == 8 and max_waiting({}) == 6
    assert web_threads({"WEB_THREADS": "1"}) == 3  # always a thread that never waits for a Celery worker
    with pytest.raises(ValueError, match="WEB_THREADS"):
        web_threads({"WEB_THREADS": "many"})


def test_gunicorn_runs_threaded_workers_sized_by_the_cpus(mlapp_repo, monkeypatch):
    monkeypatch.delenv("WEB_WORKERS", raising=False)
    monkeypatch.setenv("WEB_THREADS", "6")
    settings = runpy.run_path(str(mlapp_repo / "app" / "gunicorn.conf.py"))
    assert settings["worker_class"] == "gthread"
    assert settings["threads"] == 6
    assert settings["workers"] == web_workers({}, available_cpus())
