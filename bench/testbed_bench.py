"""How long the OpenStack test bed (testbed/openstack/) takes to start, and what it costs in memory.

    warm    the baked image cached (testbed/openstack/bed.py: the package image with its databases migrated
            and keystone set up): container start -> every API answers -> registration done
    memory  proportional set size (PSS) of every process of the container, read from the host's /proc
            (``docker stats`` reads 0 on this machine's cgroup set-up), after the start
    cold    (--cold) the base image (debootstrap) and the package image (apt) built again from nothing
            under throw-away tags (the cached ones are left as they are); cold = both builds + warm (the
            bake of a new package image, about one unbaked start, is not included)

Usage: python bench/testbed_bench.py [--cold]
It runs its own container (mlstack-openstack-testbed-bench, ports 26000+) and removes it at the end, so a
running test bed is left alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from testbed.openstack import bed, register  # noqa: E402

BENCH = bed.Bed(name="mlstack-openstack-testbed-bench", port_base=26000)


def timed(argv: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def cold_builds() -> tuple[float, float]:
    """(debootstrap base, package image) build times under throw-away tags."""
    base_tag, image_tag = "mlstack/base:bookworm-bench", "mlstack/openstack-testbed:bench"
    try:
        base = timed(
            [
                str(REPO_ROOT / "machine-image/build-base.sh"),
                "--suite",
                "bookworm",
                "--tag",
                base_tag,
                "--force",
            ]
        )
        packages = timed(
            ["docker", "build", "--no-cache", "--force-rm", "--build-arg", f"BASE_IMAGE={base_tag}",
             "--tag", image_tag, str(bed.HERE)]
        )  # fmt: skip
    finally:
        subprocess.run(["docker", "rmi", "--force", image_tag, base_tag], check=False, capture_output=True)
    return base, packages


def pss_mib(name: str) -> tuple[int, int]:
    """(total PSS in MiB, number of processes) of the container's processes."""
    pids = subprocess.run(
        ["docker", "top", name, "-eo", "pid"], check=True, capture_output=True, text=True
    ).stdout.split()[1:]
    total = count = 0
    for pid in pids:
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
        count += 1
    return total // 1024, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--cold", action="store_true", help="also build both images from nothing")
    args = parser.parse_args()
    builds = cold_builds() if args.cold else None
    bed.down(BENCH, progress=lambda _: None)
    try:
        started = time.monotonic()
        bed.up(BENCH, progress=lambda _: None)
        ready = time.monotonic() - started
        register.register(BENCH)
        warm = time.monotonic() - started
        memory, processes = pss_mib(BENCH.name)
    finally:
        bed.down(BENCH, progress=lambda _: None)
    print(f"warm start: {warm:.0f} s (control plane ready {ready:.0f} s, registration {warm - ready:.0f} s)")
    print(f"memory: {memory} MiB PSS in {processes} processes")
    if builds:
        base, packages = builds
        print(
            f"cold start: {base + packages + warm:.0f} s "
            f"(debootstrap {base:.0f} s, packages {packages:.0f} s)"
        )


if __name__ == "__main__":
    main()
