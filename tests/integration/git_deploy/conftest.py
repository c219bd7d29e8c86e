"""One stack for the module: brought up with start_instances.py (local machines, offline) the way a user
does, destroyed at the end even when a test fails. Logs, inventory and state stay in
artifacts/git_deploy/<prefix>/."""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e.stack import Stack, module_stack

# On top of the launcher's offline overrides: a short first training.
TEST_VARS = {"model_serving_train_epochs": 20}


@dataclass(frozen=True)
class Shell:
    """A command's exit code and its output (stdout and stderr together, as a person sees them)."""

    rc: int
    output: str
    seconds: float


def run_on(stack: Stack, group: str, command: str, timeout: float = 900) -> Shell:
    """Run ``command`` with bash on the machine of ``group`` as appuser, over SSH; never raises."""
    argv = [
        *stack.ssh_argv(group),
        f"bash -c {shlex.quote('set -euo pipefail; ' + command)} 2>&1",
    ]
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    return Shell(result.returncode, result.stdout + result.stderr, time.monotonic() - started)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with module_stack("git_deploy", "gdt", TEST_VARS) as created:
        up = created.up(log_name="up")
        print(f"git_deploy: start_instances.py took {up.seconds:.0f} s")
        assert up.rc == 0, up.explain()
        yield created
