"""The worker container's healthcheck: exit 0 when this container's worker answers a ping.

    python -m mlapp.worker.healthcheck [--timeout SECONDS]

The worker is addressed as <MACHINE_HOST>@<hostname> (mlapp.nodes.node_name, the name
`python -m mlapp.worker` gives it), so with `--scale worker=N` each container checks its own worker.
Imports neither TensorFlow nor the tasks.
"""

from __future__ import annotations

import argparse
import sys

from mlapp.celery_app import make_celery
from mlapp.config import Config
from mlapp.nodes import node_name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlapp.worker.healthcheck")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--node", help="the node to ping [MACHINE_HOST@<hostname>]")
    args = parser.parse_args(argv)
    config = Config.from_env()
    args.node = args.node or node_name(config.machine_host)
    celery = make_celery(config, fail_fast=True)
    try:
        replies = celery.control.ping(destination=[args.node], timeout=args.timeout) or []
    except Exception as exc:
        print(f"healthcheck: cannot reach the broker: {exc}", file=sys.stderr)
        return 1
    if any(args.node in reply for reply in replies):
        print(f"healthcheck: {args.node} answered")
        return 0
    print(f"healthcheck: {args.node} did not answer within {args.timeout:g}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
