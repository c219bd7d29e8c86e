"""Which machines a prefix should have, their names, and the order in which workers are removed."""

from __future__ import annotations

import pytest

from provisioner import fleet
from provisioner.settings import Settings


def test_wanted_is_the_two_servers_then_the_workers_in_order():
    slots = fleet.wanted(Settings(prefix="ml", workers=3))
    assert [(s.role, s.hostname, s.name, s.number) for s in slots] == [
        ("prodserver", "prodserver", "ml-prodserver", 0),
        ("devserver", "devserver", "ml-devserver", 0),
        ("workers", "worker-1", "ml-worker-1", 1),
        ("workers", "worker-2", "ml-worker-2", 2),
        ("workers", "worker-3", "ml-worker-3", 3),
    ]
    assert [s.index for s in slots] == [0, 1, 2, 3, 4], "distinct port offsets"
    assert [s.is_worker for s in slots] == [False, False, True, True, True]
    assert fleet.wanted(Settings(prefix="ml", workers=0)) == fleet.servers(Settings(prefix="ml"))


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("ml-worker-1", 1),
        ("ml-worker-12", 12),
        ("ml-worker-0", None),
        ("ml-worker-01", None),
        ("ml-worker-", None),
        ("ml-worker-1x", None),
        ("mlx-worker-1", None),
        ("other-ml-worker-1", None),
        ("ml-prodserver", None),
    ],
)
def test_worker_number_only_for_our_exact_names(name, number):
    assert fleet.worker_number("ml", name) == number


def test_a_prefix_with_regex_characters_is_taken_literally():
    assert fleet.worker_number("a.b", "a.b-worker-2") == 2
    assert fleet.worker_number("a.b", "axb-worker-2") is None


def test_slot_for_names_of_the_prefix():
    settings = Settings(prefix="ml")
    assert fleet.slot_for(settings, "ml-devserver") == fleet.server(settings, "devserver")
    assert fleet.slot_for(settings, "ml-worker-4") == fleet.worker(settings, 4)
    assert fleet.slot_for(settings, "ml-something") is None
    with pytest.raises(ValueError):
        fleet.worker(settings, 0)


def test_surplus_is_what_exists_beyond_n_highest_first():
    assert fleet.surplus(Settings(workers=1), [1, 2, 3]) == [3, 2]
    assert fleet.surplus(Settings(workers=0), [2, 1]) == [2, 1]
    assert fleet.surplus(Settings(workers=3), [1, 2, 3]) == []
    assert fleet.surplus(Settings(workers=2), [1, 5]) == [5], "a gap below N is filled by up, not removed"


def test_unset_workers_keep_every_worker_that_exists():
    """workers None (no --workers): N becomes the highest number that exists, so nothing is surplus."""
    unset = Settings(prefix="ml")
    assert unset.workers is None
    kept = fleet.resolve(unset, [1, 2])
    assert kept.workers == 2
    assert fleet.surplus(kept, [1, 2]) == []
    assert [s.name for s in fleet.workers(kept)] == ["ml-worker-1", "ml-worker-2"]
    assert fleet.resolve(unset, []).workers == 0, "none exist: none are made"
    assert fleet.resolve(unset, [3]).workers == 3, "the highest is kept; the gap below it is filled"


def test_an_explicit_number_is_never_replaced():
    assert fleet.resolve(Settings(workers=0), [1, 2]).workers == 0
    assert fleet.surplus(fleet.resolve(Settings(workers=0), [1, 2]), [1, 2]) == [2, 1]
    assert fleet.resolve(Settings(workers=5), [1]).workers == 5


def test_an_unresolved_number_is_a_programming_error_not_zero():
    with pytest.raises(ValueError, match=r"fleet\.resolve"):
        fleet.wanted(Settings())
    with pytest.raises(ValueError, match=r"fleet\.resolve"):
        fleet.surplus(Settings(), [1])
