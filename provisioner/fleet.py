"""Which machines a prefix should have, and what each is called: prodserver, devserver, and the worker
machines ``<prefix>-worker-1`` .. ``<prefix>-worker-N`` (``settings.workers``).

Both providers build from these slots, so names, host names and the order never differ between clouds.
Scaling down removes the highest-numbered workers first (``surplus``).

``settings.workers`` None means "keep the worker machines that exist": ``resolve`` turns it into the
highest number that exists (0 when none do) before anything is counted.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass

from provisioner.machine import ROLES, WORKER_ROLE
from provisioner.settings import Settings


@dataclass(frozen=True)
class Slot:
    """One machine the prefix should have.

    role:     its inventory group (``prodserver``, ``devserver`` or ``workers``)
    hostname: its host name, and its name on the private network (``prodserver``, ``worker-2``)
    name:     the provider's name for it, ``<prefix>-<hostname>``
    number:   n for ``worker-n``, 0 for prodserver and devserver
    """

    role: str
    hostname: str
    name: str
    number: int = 0

    @property
    def index(self) -> int:
        """Its place in the fleet: 0 prodserver, 1 devserver, 1 + n for worker-n (port offsets, order)."""
        return ROLES.index(self.role) if self.role in ROLES else len(ROLES) - 1 + self.number

    @property
    def is_worker(self) -> bool:
        return self.role == WORKER_ROLE


def worker_hostname(number: int) -> str:
    """``worker-<n>``."""
    return f"worker-{number}"


def server(settings: Settings, role: str) -> Slot:
    """The slot of prodserver or devserver."""
    return Slot(role=role, hostname=role, name=settings.server_name(role))


def worker(settings: Settings, number: int) -> Slot:
    """The slot of ``<prefix>-worker-<number>`` (number >= 1)."""
    if number < 1:
        raise ValueError(f"worker numbers start at 1, not {number}")
    hostname = worker_hostname(number)
    return Slot(role=WORKER_ROLE, hostname=hostname, name=settings.server_name(hostname), number=number)


def servers(settings: Settings) -> list[Slot]:
    """prodserver and devserver, in that order."""
    return [server(settings, role) for role in ROLES]


def resolve(settings: Settings, existing_numbers: Iterable[int]) -> Settings:
    """``settings`` with ``workers`` set: as given, or (None) the highest worker number that exists, so
    that every existing worker machine is kept (a gap below it is filled). 0 when none exist."""
    if settings.workers is not None:
        return settings
    return dataclasses.replace(settings, workers=max(existing_numbers, default=0))


def count(settings: Settings) -> int:
    """``settings.workers``, which must be resolved by now (see ``resolve``)."""
    if settings.workers is None:
        raise ValueError("settings.workers is None (keep what exists): call fleet.resolve first")
    return settings.workers


def workers(settings: Settings) -> list[Slot]:
    """worker-1 .. worker-N for N = ``settings.workers``."""
    return [worker(settings, n) for n in range(1, count(settings) + 1)]


def wanted(settings: Settings) -> list[Slot]:
    """Every machine the settings ask for: prodserver, devserver, then worker-1 .. worker-N."""
    return servers(settings) + workers(settings)


def worker_number(prefix: str, name: str) -> int | None:
    """n when ``name`` is ``<prefix>-worker-<n>`` (n >= 1, no leading zero), else None."""
    match = re.fullmatch(re.escape(prefix) + r"-worker-([1-9][0-9]*)", name)
    return int(match.group(1)) if match else None


def slot_for(settings: Settings, name: str) -> Slot | None:
    """The slot a machine called ``name`` fills for this prefix (None when the name is not one of ours)."""
    for slot in servers(settings):
        if slot.name == name:
            return slot
    number = worker_number(settings.prefix, name)
    return worker(settings, number) if number is not None else None


def surplus(settings: Settings, existing_numbers: Iterable[int]) -> list[int]:
    """The worker numbers that exist beyond ``settings.workers``, highest first (the removal order)."""
    wanted_count = count(settings)
    return sorted((n for n in set(existing_numbers) if n > wanted_count), reverse=True)
