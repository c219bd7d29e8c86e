"""The extra variables that configure local machines on a network without a registry, for the roles' tests
and molecule: the launcher's offline mode (provisioner/offline.py builds mlstack/python:trixie and
mlstack/rabbitmq:local here and saves them under .cache/images/), the data set from ../shared/data/, and
the tests' own overrides (offline-vars.yml).

    python -m tests.integration.roles.offline --out vars.yml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from provisioner import offline as launcher_offline
from provisioner.errors import LauncherError

TEST_VARS = Path(__file__).with_name("offline-vars.yml")
DATA_FILE = (
    Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "pima-indians-diabetes.csv"
).resolve()

OfflineError = LauncherError


def prepare(**extra: Any) -> dict[str, Any]:
    """Build and save what is missing (quietly); the extra variables for configuration.yml."""
    values = launcher_offline.prepare(progress=lambda _line: None, local_machines=True)
    values.update(launcher_offline.dataset_vars(DATA_FILE))
    values.update(yaml.safe_load(TEST_VARS.read_text(encoding="utf-8")))
    values.update(extra)
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the vars file to write (YAML)")
    args = parser.parse_args(argv)
    try:
        values = prepare()
    except LauncherError as exc:
        print(f"offline: {exc}", file=sys.stderr)
        return 1
    args.out.write_text(yaml.safe_dump(values, sort_keys=True), encoding="utf-8")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
