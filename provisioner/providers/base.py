"""The small interface every provider implements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from provisioner.machine import Machine
    from provisioner.settings import Settings


class Provider(Protocol):
    """Create or reuse, report, and remove ``<prefix>-prodserver`` and ``<prefix>-devserver``."""

    def up(self, settings: Settings) -> list[Machine]:
        """Create what is missing, reuse what exists, wait until SSH and cloud-init are done."""
        ...

    def down(self, settings: Settings) -> None:
        """Remove everything this provider created for the prefix; harmless when nothing exists."""
        ...

    def status(self, settings: Settings) -> list[Machine]:
        """The machines that exist now for the prefix (nothing is created or waited for)."""
        ...

    def plan(self, settings: Settings) -> list[str]:
        """What ``up`` would do, one line per action, touching nothing (for --dry-run)."""
        ...
