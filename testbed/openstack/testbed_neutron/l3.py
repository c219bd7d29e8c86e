"""The L3 router plugin with floating IPs created ACTIVE: the stand-in for the L3 agent (without one they
stay DOWN and openstacksdk's ``wait=True`` times out). Loaded by class path from ``service_plugins``."""

from __future__ import annotations

from typing import Any

from neutron.services.l3_router.l3_router_plugin import L3RouterPlugin
from neutron_lib import constants


class ActiveFloatingIPRouterPlugin(L3RouterPlugin):
    """Routers, router interfaces and floating IP allocation stay the real plugin's."""

    def create_floatingip(self, context: Any, floatingip: Any) -> Any:
        # L3RouterPlugin passes DOWN (an agent would set ACTIVE later); the mixins below it take a status
        return super(L3RouterPlugin, self).create_floatingip(
            context, floatingip, initial_status=constants.FLOATINGIP_STATUS_ACTIVE
        )
