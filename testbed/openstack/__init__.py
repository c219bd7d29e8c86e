"""A real OpenStack Zed control plane (Debian 12's packages) in one container, for the launcher's tests.
``python -m testbed.openstack up|down`` (make openstack-up / openstack-down); see README.md here."""
