"""``python -m testbed.openstack up|down|image``: make openstack-up / make openstack-down; ``image`` only
builds (or checks) the cached images and bakes the set-up, as .ci/run does in the background while the
first tests run."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from provisioner.errors import LauncherError
from provisioner.settings import REPO_ROOT

CLOUDS_YAML = REPO_ROOT / "artifacts" / "openstack" / "clouds.yaml"


def bring_up(clouds_yaml: Path) -> None:
    from testbed.openstack import bed, register

    started = time.monotonic()
    print("OpenStack test bed: Debian 12's Zed control plane in one container", flush=True)
    running = bed.up()
    print("  registering the project, users, images, flavors and networks (idempotent)", flush=True)
    register.register(running)
    path = register.write_clouds_yaml(running, clouds_yaml)
    print(f"Ready in {time.monotonic() - started:.0f}s. Use it with:")
    print(f"  export OS_CLIENT_CONFIG_FILE={path}")
    print(
        f"  export OS_CLOUD={register.CLOUDS['member']}"
        f"   # or {register.CLOUDS['colleague']}, {register.CLOUDS['admin']}"
    )
    print(
        f"  .venv/bin/python start_instances.py --provider openstack --cloud {register.CLOUDS['member']} \\"
    )
    print(
        f"      --image {register.IMAGE} --flavor {register.FLAVOR} --network {register.PRIVATE_NET} "
        f"--floating-network {register.EXTERNAL_NET}"
    )
    print("  (nothing boots there: servers reach ACTIVE, SSH never answers)")
    print(
        f"Logs: docker exec {running.name} tail /var/log/testbed/<service>.log; remove: make openstack-down"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.openstack", description=__doc__)
    parser.add_argument("action", choices=["up", "down", "image"])
    parser.add_argument("--clouds-yaml", type=Path, default=CLOUDS_YAML)
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            bring_up(args.clouds_yaml)
        elif args.action == "image":
            from testbed.openstack import bed

            started = time.monotonic()
            image = bed.ensure_ready_image(bed.Bed.from_env())
            print(f"OpenStack test bed: image {image} ready ({time.monotonic() - started:.0f}s)")
        else:
            from testbed.openstack import bed

            bed.down()
    except LauncherError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
