"""The worker container's healthcheck: exit 0 when this container's worker answers a ping.

    python -m mlapp.worker.healthcheck [--timeout SECONDS]

The worker is addressed as celery@<hostname> (Celery's default node name), so with `--scale worker=N`
each container checks its own worker. Imports neither TensorFlow nor the tasks.
"""

from __future__ import annotations

import argparse
import socket
import sys

from mlapp.celery_app import make_celery
from mlapp.config import Config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlapp.worker.healthcheck")
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--node", default=f"celery@{socket.gethostname()}")
    args = parser.parse_args(argv)
    celery = make_celery(Config.from_env(), fail_fast=True)
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
