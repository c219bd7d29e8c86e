"""The test helpers' lookups of machines (no Docker needed)."""

from __future__ import annotations

import pytest

from provisioner.machine import Machine
from provisioner.providers.local import LocalProvider
from provisioner.settings import Settings
from tests.machines_fixtures import LocalMachines


def test_machines_are_found_by_role_host_name_or_name():
    settings = Settings(prefix="fx", workers=2)
    records = [
        Machine(name="fx-prodserver", role="prodserver", address="127.0.0.1", port=1),
        Machine(name="fx-devserver", role="devserver", address="127.0.0.1", port=2),
        Machine(name="fx-worker-1", role="workers", address="127.0.0.1", port=3),
        Machine(name="fx-worker-2", role="workers", address="127.0.0.1", port=4),
    ]
    machines = LocalMachines(settings=settings, provider=LocalProvider(), machines=records)
    assert machines["prodserver"].port == 1
    assert machines["worker-2"].port == 4
    assert machines["fx-worker-1"].port == 3
    assert machines["workers"].port == 3
    assert [m.name for m in machines.workers] == ["fx-worker-1", "fx-worker-2"]
    with pytest.raises(KeyError):
        machines["worker-3"]
