"""Everything checked before anything is created: image, flavor, network, the external network for the
floating IP, and the compute quota for the servers to create. A failure here leaves the cloud untouched.

Clouds that rebuild their images under the same name hold several images of one name; the newest ACTIVE
one is taken, with a note (openstacksdk's ``find_image`` would refuse them as duplicates).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provisioner.errors import ConfigError, ProviderError
from provisioner.providers.openstack import floating, lookup
from provisioner.settings import Settings

if TYPE_CHECKING:
    from openstack.connection import Connection

Out = Callable[[str], None]


@dataclass(frozen=True)
class Checked:
    """What the servers to create are made of (None when nothing is created)."""

    image: Any = None
    flavor: Any = None
    network: Any = None
    floating_network: Any = None
    boot_from_volume: bool = False


def find_image(conn: Connection, name: str, out: Out) -> Any:
    """The image called ``name`` (the newest ACTIVE one when several share the name), or the image whose
    id is ``name``; a ConfigError naming the closest names when there is none."""
    named = list(conn.image.images(name=name))
    if not named:
        return lookup.find_named(conn.image.find_image, name, "image", conn.image.images, "--image")
    active = [i for i in named if str(i.status).lower() == "active"]
    if not active:
        states = ", ".join(sorted({str(i.status) for i in named}))
        raise ConfigError(f"image {name!r} is not active ({states})", "choose another --image")
    newest = max(active, key=lambda i: str(i.created_at or ""))
    if len(named) > 1:
        out(
            f"  image          {len(named)} images are named {name!r}: taking the newest ACTIVE one, "
            f"{newest.id} (created {newest.created_at}); pass --image ID to choose another"
        )
    return newest


def find_flavor(conn: Connection, name: str) -> Any:
    """The flavor called (or with the id) ``name``."""
    return lookup.find_named(conn.compute.find_flavor, name, "flavor", conn.compute.flavors, "--flavor")


def _all_public(conn: Connection, network: Any) -> bool:
    """True when every IPv4 subnet of ``network`` is globally routable (no floating IP needed)."""
    cidrs = [conn.network.get_subnet(s).cidr for s in network.subnet_ids or []]
    v4 = [ipaddress.ip_network(c) for c in cidrs if ipaddress.ip_network(c).version == 4]
    return bool(v4) and all(n.is_global for n in v4)


def check_quota(conn: Connection, flavor: Any, count: int) -> None:
    """Raise a ProviderError when ``count`` more servers of ``flavor`` exceed the project's instances,
    cores or RAM (Nova's absolute limits; -1 is unlimited)."""
    if count <= 0:
        return
    limits = conn.compute.get_limits().absolute
    short = []
    for what, limit, used, need in (
        ("instances", limits.instances, limits.instances_used, count),
        ("cores", limits.total_cores, limits.total_cores_used, count * int(flavor.vcpus or 0)),
        ("RAM (MiB)", limits.total_ram, limits.total_ram_used, count * int(flavor.ram or 0)),
    ):
        if limit is None or int(limit) < 0:
            continue
        if int(used or 0) + need > int(limit):
            short.append(f"{what}: {need} needed, {int(limit) - int(used or 0)} of {limit} free")
    if short:
        raise ProviderError(
            f"the project's quota is too small for {count} more server(s) of flavor {flavor.name}: "
            f"{'; '.join(short)}; nothing was created",
            "fewer --workers, a smaller --flavor, free some resources, or ask for a larger quota "
            "(`openstack limits show --absolute`)",
        )


def check_block_storage(conn: Connection, why: str) -> None:
    """Raise a ConfigError when the cloud's catalog has no block-storage service (Cinder): a boot volume
    cannot be made there, and Nova would only fail later, after the keypair and groups exist."""
    if not conn.has_service("block-storage"):
        raise ConfigError(
            f"{why}, but this cloud has no block-storage service (Cinder) in its catalog; "
            "nothing was created",
            "choose a flavor with a disk (--flavor; `openstack flavor list` shows the Disk column), or use "
            "a cloud (or ask its operators for one) that offers volumes",
        )


def check(conn: Connection, settings: Settings, to_create: int, needs_floating_ip: bool, out: Out) -> Checked:
    """Look everything up that creating ``to_create`` servers (and a floating IP) needs, or raise."""
    if to_create == 0 and not needs_floating_ip:
        return Checked()
    network = lookup.find_network(conn, settings.network)
    external = None
    if needs_floating_ip and (settings.access == "floating" or not _all_public(conn, network)):
        external = floating.external_network(conn, settings, set(network.subnet_ids or []))
    if to_create == 0:
        return Checked(network=network, floating_network=external)
    image = find_image(conn, settings.image, out)
    flavor = find_flavor(conn, settings.flavor)
    check_quota(conn, flavor, to_create)
    from_volume = settings.boot_from_volume
    if from_volume is None:
        from_volume = not int(flavor.disk or 0)
        if from_volume:
            check_block_storage(conn, f"flavor {flavor.name} has no disk, so the servers boot from a volume")
            out(
                f"  flavor         {flavor.name} has no disk: booting from a {settings.volume_size} GB "
                "volume (--volume-size; deleted with the server)"
            )
    elif from_volume:
        check_block_storage(conn, "--boot-from-volume is set")
    return Checked(
        image=image, flavor=flavor, network=network, floating_network=external, boot_from_volume=from_volume
    )
