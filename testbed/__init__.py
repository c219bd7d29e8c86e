"""Test beds for the launcher's tests (openstack/: a real OpenStack control plane in one container)."""
