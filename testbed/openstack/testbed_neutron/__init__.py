"""CI-only stand-ins for the Neutron agents the test bed does not run (loaded by neutron-server inside the
test bed's container; never installed anywhere else)."""
