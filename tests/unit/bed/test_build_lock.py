"""The test bed's image build lock: a second builder on the host waits for the first (CI builds the image in
the background while the first tests run; the test bed's fixture must not start a second build)."""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path

import pytest

from testbed.openstack import bed


def test_a_second_builder_waits_until_the_first_releases_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bed, "BUILD_LOCK", tmp_path / "image.lock")
    said: list[str] = []
    entered = threading.Event()

    def second() -> None:
        with bed.build_lock(said.append):
            entered.set()

    with bed.build_lock(said.append):
        waiter = threading.Thread(target=second)
        waiter.start()
        assert not entered.wait(0.5), "the second builder entered while the first held the lock"
        assert any("waiting for another build" in line for line in said), said
    waiter.join(timeout=10)
    assert entered.is_set()


def test_an_uncontended_lock_says_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bed, "BUILD_LOCK", tmp_path / "image.lock")
    said: list[str] = []
    with (
        bed.build_lock(said.append),
        (tmp_path / "image.lock").open("a") as handle,
        pytest.raises(BlockingIOError),
    ):
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert said == []
