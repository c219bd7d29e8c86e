"""An ML2 mechanism driver that binds every port as an OVS port, ACTIVE at once: the stand-in for the L2
agent (no agent, no port would bind and every server would end in ERROR with PortBindingFailed).

Registered as ``testbed_bind_all`` under ``neutron.ml2.mechanism_drivers`` by inside.py."""

from __future__ import annotations

from typing import Any

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class BindAllMechanismDriver(api.MechanismDriver):
    """Binds the first segment offered, whatever its type."""

    def initialize(self) -> None:
        pass

    def bind_port(self, context: Any) -> None:
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID],
                portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True, portbindings.OVS_HYBRID_PLUG: False},
                status=constants.PORT_STATUS_ACTIVE,
            )
            return
