"""The end-to-end tier's one stack (issues 6, 7, 8, 13): created once for the session with the quickstart's
`make up`, used by the modules in order (test_1_serve: serving and healing drills; test_2_git_push_deploy:
git-push delivery from devserver; test_3_worker_machines: scaling out and in; test_4_teardown: --destroy),
and removed at the end even when a step fails. Logs, inventory, state and the screenshot stay in
artifacts/e2e/<prefix>/. One stack instead of one per module saves a whole bring-up and teardown (about
5 minutes) in CI.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from provisioner import probe
from tests.e2e.stack import Run, Stack, module_stack

# Variables of the test run on top of the launcher's offline overrides: a short training, two workers.
TEST_VARS = {"model_serving_train_epochs": 20, "model_serving_workers": 2}


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with module_stack("e2e", "e2e", TEST_VARS) as created:
        yield created


@pytest.fixture(scope="session")
def first_run(stack: Stack) -> Run:
    run = stack.make_up("1-up")  # the quickstart's command, no flags: offline mode only if the probes say so
    assert run.rc == 0, run.explain()
    blocked = probe.install_sources_blocked()
    assert ("Offline mode:" in run.output) == bool(blocked), run.explain()
    print(f"e2e: first run (machines + configuration) took {run.seconds:.0f}s")
    return run
