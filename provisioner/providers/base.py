"""The small interface every provider implements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from provisioner.machine import Machine
    from provisioner.settings import Settings


class Provider(Protocol):
    """Create or reuse, report, and remove ``<prefix>-prodserver``, ``<prefix>-devserver`` and the worker
    machines ``<prefix>-worker-1..N`` (N = ``settings.workers``; see provisioner/fleet.py). N None means
    "keep the worker machines that exist": each verb resolves it with ``fleet.resolve``."""

    def up(self, settings: Settings) -> list[Machine]:
        """Create what is missing, reuse what exists, wait until SSH and cloud-init are done.

        Returns prodserver, devserver, then worker-1..N. Workers numbered above N are left alone here: the
        launcher drains them first (``surplus``), then removes them (``remove_workers``).
        """
        ...

    def surplus(self, settings: Settings) -> list[Machine]:
        """The worker machines numbered above ``settings.workers``, highest first, with the addresses that
        reach them (for the drain). One that is not running has ``extra["running"] == "no"``."""
        ...

    def remove_workers(self, settings: Settings, machines: list[Machine]) -> None:
        """Delete these worker machines, in the order given, with what belongs to them alone."""
        ...

    def down(self, settings: Settings) -> None:
        """Remove everything this provider created for the prefix; harmless when nothing exists."""
        ...

    def status(self, settings: Settings) -> list[Machine]:
        """The machines that exist now for the prefix, workers included (nothing is created or waited for)."""
        ...

    def plan(self, settings: Settings) -> list[str]:
        """What ``up`` would do, one line per action, touching nothing (for --dry-run)."""
        ...
