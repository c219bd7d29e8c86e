"""How long the configuration takes on local machines (figures to read, never asserted):

    first   configuration.yml on two fresh machines: Docker, image builds, first training, pip TensorFlow
    no-op   the same run again on the healthy machines (target: under 60 s and a tenth of `first`)
    heal    after drift on prodserver (web stopped, a worker removed, a release file deleted, the env file
            edited, Docker stopped), a run limited to prodserver that puts everything back

Usage: python bench/config_bench.py [--noop-runs N]
The machines use the prefix mlt-<random> (tests/machines_fixtures.py) and are removed at the end, even on
failure. The offline overrides of tests/integration/roles/ apply (distribution Docker, local base images).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from provisioner.inventory import write_inventory  # noqa: E402
from tests.integration.roles import offline  # noqa: E402
from tests.integration.roles.playbook import Run, run_configuration  # noqa: E402
from tests.machines_fixtures import ensure_docker, machine_settings, machines_up  # noqa: E402

DRIFT = (
    "docker stop mlstack-web-1 && docker rm -f mlstack-worker-1"
    " && rm /opt/mlstack/current/mlapp/web/api.py"
    " && sed -i 's/^WORKER_CONCURRENCY=.*/WORKER_CONCURRENCY=9/' /opt/mlstack/shared/mlstack.env"
    " && systemctl stop docker.socket docker"
)


def line(name: str, run: Run, note: str = "") -> str:
    changed = ", ".join(f"{host} changed={counts['changed']}" for host, counts in sorted(run.recap.items()))
    return f"  {name:<8} {run.seconds:7.1f} s   rc={run.rc}  {changed}{'  ' + note if note else ''}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time configuration.yml on local machines.")
    parser.add_argument("--noop-runs", type=int, default=2, help="no-op re-runs to time (default 2)")
    args = parser.parse_args(argv)

    ensure_docker()
    values = offline.prepare()
    with tempfile.TemporaryDirectory(prefix="config-bench-") as tmp:
        workdir = Path(tmp)
        values["model_serving_secrets_dir"] = str(workdir / "secrets")
        # A snapshot of app/, so that edits in the checkout during the bench do not count as drift.
        app = workdir / "app"
        shutil.copytree(REPO_ROOT / "app", app, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        values["model_serving_app_source"] = values["ml_dev_app_source"] = str(app)
        vars_file = workdir / "vars.yml"
        vars_file.write_text(yaml.safe_dump(values), encoding="utf-8")
        log = workdir / "ansible.log"
        settings = machine_settings(workdir / "machines")
        print(f"configuration.yml on local machines (prefix {settings.prefix}, {os.cpu_count()} CPUs)")
        with machines_up(settings, provider=None) as machines:
            inventory = write_inventory(machines.machines, settings.inventory_dir, settings.known_hosts)
            first = run_configuration(inventory, vars_file, log=log)
            print(line("first", first), flush=True)
            if first.rc != 0:
                print(first.explain())
                return 1
            noops = [run_configuration(inventory, vars_file, log=log) for _ in range(args.noop_runs)]
            for run in noops:
                print(line("no-op", run), flush=True)
            drift = ["docker", "exec", machines["prodserver"].name, "bash", "-c", DRIFT]
            subprocess.run(drift, check=True, stdout=subprocess.DEVNULL)
            heal = run_configuration(inventory, vars_file, "--limit", "prodserver", log=log)
            print(line("heal", heal, "(prodserver only)"), flush=True)
        noop = statistics.median(run.seconds for run in noops)
        print(
            f"no-op median {noop:.1f} s = {noop / first.seconds:.2f} of the first converge"
            f" (targets: < 60 s and < 0.10)"
        )
        return 0 if first.rc == 0 and heal.rc == 0 and all(run.rc == 0 for run in noops) else 1


if __name__ == "__main__":
    sys.exit(main())
