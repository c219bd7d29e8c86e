"""The last step of the session's stack: `--destroy` leaves nothing, and a second one is a no-op."""

from __future__ import annotations

import pytest

from tests.e2e.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.machines, pytest.mark.slow]


def test_destroy_leaves_nothing(stack: Stack, first_run) -> None:
    run = stack.launcher("--destroy", log_name="9-destroy", timeout=600)
    assert run.rc == 0, run.explain()
    assert stack.leftovers() == []
    again = stack.launcher("--destroy", log_name="10-destroy-again", timeout=600)
    assert again.rc == 0, again.explain()
