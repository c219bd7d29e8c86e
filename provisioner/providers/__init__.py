"""Providers create, find and destroy the machines. Each has the verbs up, down, status and plan."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from provisioner.errors import ConfigError

if TYPE_CHECKING:
    from provisioner.providers.base import Provider

# name -> (module, class); modules are imported only when chosen (openstacksdk is slow to import).
PROVIDERS = {
    "openstack": ("provisioner.providers.openstack", "OpenStackProvider"),
    "local": ("provisioner.providers.local", "LocalProvider"),
}


def get_provider(name: str) -> Provider:
    """A new provider by name (``openstack`` or ``local``)."""
    try:
        module_name, class_name = PROVIDERS[name]
    except KeyError:
        raise ConfigError(f"unknown provider {name!r}", f"choose one of: {', '.join(PROVIDERS)}") from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ConfigError(
            f"the {name} provider is not available in this checkout "
            f"({module_name.replace('.', '/')}.py is missing)",
            "use --provider openstack, or update the checkout",
        ) from None
    provider_class = getattr(module, class_name, None)
    if provider_class is None:
        raise ConfigError(f"{module_name} has no {class_name}")
    provider: Provider = provider_class()
    return provider
