"""Start the worker under its node name: `python -m mlapp.worker [celery worker options]`.

Runs `celery --app mlapp.worker.main worker --hostname <MACHINE_HOST>@<hostname> [options]` in this
process (the worker image's command). The node name comes from mlapp.nodes, as the container's
healthcheck (mlapp.worker.healthcheck) computes it; an explicit -n/--hostname among the options wins.
"""

from __future__ import annotations

import sys

from mlapp.config import Config, ConfigError
from mlapp.nodes import node_name

WORKER_APP = "mlapp.worker.main"


def worker_argv(
    config: Config, options: list[str], hostname: str | None = None, app: str = WORKER_APP
) -> list[str]:
    """The celery command line (without the program name) for these worker options."""
    argv = ["--app", app, "worker"]
    named = any(opt in ("-n", "--hostname") or opt.startswith(("-n", "--hostname=")) for opt in options)
    if not named:
        argv += ["--hostname", node_name(config.machine_host, hostname)]
    return argv + options


def main(argv: list[str] | None = None) -> None:
    options = sys.argv[1:] if argv is None else argv
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"mlapp.worker: {exc}", file=sys.stderr)
        sys.exit(2)
    from celery.__main__ import main as celery_main

    sys.argv = ["celery", *worker_argv(config, options)]
    celery_main()  # exits


if __name__ == "__main__":
    main()
