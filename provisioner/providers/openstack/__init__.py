"""OpenStack through openstacksdk: the provider (provider.py), the connection and its settings
(connection.py), error translation (cloud_errors.py)."""

from provisioner.providers.openstack.provider import OpenStackProvider

__all__ = ["OpenStackProvider"]
