"""How long local machines take: from `start_instances.py --provider local --no-configure` to both machines
ready (SSH answers and `cloud-init status --wait` is done: the command returns).

    cold    the machine image rebuilt from scratch (machine-image/build.sh --force: no layer cache; the
            debootstrap base stays cached), then the command on a new prefix
    warm    the image cached, new machines (new prefix)
    reuse   the same command again: both machines exist and run
    destroy `--destroy`

    base    (--with-base) the debootstrap base alone, built under a throw-away tag (the shared
            mlstack/base:trixie is left as it is)

Usage: python bench/machines_bench.py [--runs N] [--no-cold] [--with-base]
Everything it creates uses the prefix mlb-<random> and is removed at the end, even on failure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from provisioner import keys  # noqa: E402

START = [sys.executable, str(REPO_ROOT / "start_instances.py"), "--provider", "local"]
BUILD = [str(REPO_ROOT / "machine-image" / "build.sh")]
BUILD_BASE = [str(REPO_ROOT / "machine-image" / "build-base.sh")]
TARGET_WARM = 30.0


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO_ROOT, check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(
            f"bench: {' '.join(argv[1:])} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="warm/reuse/destroy repetitions (default 3)")
    parser.add_argument("--no-cold", action="store_true", help="skip the forced image rebuild")
    parser.add_argument("--with-base", action="store_true", help="also time a debootstrap base build")
    args = parser.parse_args()

    subprocess.run([str(REPO_ROOT / "scripts" / "ensure-docker.sh")], check=True)
    workdir = Path(tempfile.mkdtemp(prefix="mlstack-bench-"))
    pair = keys.generate(workdir / "ssh")
    env = dict(os.environ)
    env.update(
        {
            "MLSTACK_STATE_DIR": str(workdir / "state"),
            "MLSTACK_INVENTORY_DIR": str(workdir / "inventory"),
            "MLSTACK_ARTIFACTS_DIR": str(workdir / "artifacts"),
            "MLSTACK_PUBLIC_KEY": str(pair.public_key),
            "MLSTACK_PRIVATE_KEY": str(pair.private_key),
            "MLSTACK_LOCAL_SSH_PORT_BASE": "0",
            "MLSTACK_LOCAL_APP_PORT": "0",
        }
    )
    prefixes: list[str] = []
    figures: dict[str, list[float]] = {
        "base": [],
        "build": [],
        "cold": [],
        "warm": [],
        "reuse": [],
        "destroy": [],
    }

    def up(kind: str) -> str:
        prefix = f"mlb-{uuid.uuid4().hex[:8]}"
        prefixes.append(prefix)
        figures[kind].append(timed([*START, "--prefix", prefix, "--no-configure"], env))
        return prefix

    def destroy(prefix: str) -> None:
        figures["destroy"].append(timed([*START, "--prefix", prefix, "--destroy"], env))
        prefixes.remove(prefix)

    try:
        timed(BUILD, env)  # make sure the base exists, so "cold" measures the machine image only
        if args.with_base:
            tag = f"mlb-base:{uuid.uuid4().hex[:8]}"
            try:
                figures["base"].append(timed([*BUILD_BASE, "--tag", tag, "--force"], env))
            finally:
                subprocess.run(["docker", "image", "rm", tag], capture_output=True, check=False)
        if not args.no_cold:
            figures["build"].append(timed([*BUILD, "--force"], env))
            destroy(up("cold"))
        for _ in range(args.runs):
            prefix = up("warm")
            figures["reuse"].append(timed([*START, "--prefix", prefix, "--no-configure"], env))
            destroy(prefix)
    finally:
        for prefix in list(prefixes):
            subprocess.run(
                [*START, "--prefix", prefix, "--destroy"], capture_output=True, env=env, check=False
            )
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"Local machines ({os.cpu_count()} cores), start_instances.py --provider local --no-configure:")
    if figures["base"]:
        print(f"  base     {figures['base'][0]:6.1f} s  (debootstrap + docker import, from Debian's mirror)")
    if figures["build"]:
        build, cold = figures["build"][0], figures["cold"][0]
        print(f"  cold     {build + cold:6.1f} s  (image build {build:.1f} s + machines {cold:.1f} s)")
    for kind, label in (("warm", "warm   "), ("reuse", "reuse  "), ("destroy", "destroy")):
        values = figures[kind]
        if values:
            spread = (
                f"  min {min(values):.1f} / max {max(values):.1f} over {len(values)}"
                if len(values) > 1
                else ""
            )
            print(f"  {label}  {statistics.median(values):6.1f} s  (median){spread}")
    if figures["warm"]:
        verdict = "met" if statistics.median(figures["warm"]) < TARGET_WARM else "MISSED"
        print(f"  target warm < {TARGET_WARM:.0f} s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
