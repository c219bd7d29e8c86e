"""The last gaps of issue 12 against the real control plane of the test bed:

- host keys: the launcher asks Nova for each server's console log (os-getConsoleOutput, the real API);
  the fake virt driver answers fixed text with no cloud-init output, so ``--host-keys auto`` falls back to
  accept-new with one line, and ``--host-keys console`` stops with exit code 3;
- security groups named like ours that this deployment did not make (an older launcher's, made directly
  through the API): never changed, used or deleted.

Each test cleans up in ``finally``."""

from __future__ import annotations

import dataclasses

import pytest
from bedkit import Recorder, leftovers

from provisioner.errors import ConfigError, ProviderError
from provisioner.providers.openstack import OpenStackProvider

pytestmark = [
    pytest.mark.openstack,
    pytest.mark.docker,
    pytest.mark.filterwarnings("ignore::openstack.warnings.OpenStackDeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


class Lines(list):
    def __call__(self, line: str) -> None:
        self.append(line)


def group_view(conn, group_id: str) -> tuple:
    """What must not change in a group: name, description and its rules."""
    group = conn.network.get_security_group(group_id)
    rules = {
        (r["direction"], r["ethertype"], r["protocol"], r["port_range_min"], r["remote_ip_prefix"])
        for r in group.security_group_rules
    }
    return group.name, group.description, frozenset(rules)


def test_the_fake_drivers_console_makes_auto_fall_back_in_one_line_and_console_refuse(
    openstack_testbed, settings
):
    member = openstack_testbed.connect("member")
    waits, lines = Recorder(), Lines()
    provider = OpenStackProvider(waiter=waits, out=lines, poll_interval=1)
    try:
        machines = provider.up(settings)
        notes = [line for line in lines if "host keys" in line]
        assert len(notes) == 1, notes
        assert "shows no cloud-init output" in notes[0] and "FAKE CONSOLE OUTPUT" in notes[0], notes
        assert notes[0].endswith("falling back to accept-new (the first key seen is kept)")
        assert [m.host_key_checking for m in machines] == ["accept-new", "accept-new"]
        assert [m.host_key_checking for m in waits.calls[0][0]] == ["accept-new", "accept-new"]
        assert not settings.known_hosts.exists() or settings.known_hosts.read_text() == ""

        strict = dataclasses.replace(settings, host_keys="console")
        with pytest.raises(
            ProviderError, match="--host-keys console: the SSH host keys cannot be read"
        ) as caught:
            provider.up(strict)
        assert caught.value.exit_code == 3
        assert "--host-keys accept-new" in caught.value.hint
        assert len(waits.calls) == 1, "no SSH was attempted"

        lines.clear()
        provider.up(dataclasses.replace(settings, host_keys="accept-new"))
        assert not [line for line in lines if "host keys" in line], "accept-new does not read the console"
    finally:
        provider.down(settings)
    assert leftovers(member, settings.prefix, set(), set()) == []


def test_a_security_group_an_older_launcher_made_is_refused_and_left_alone(openstack_testbed, settings):
    """A group with the name the launcher would use, made directly through the API (no description of
    this deployment, not in its state file): refused before anything is created, never changed."""
    member = openstack_testbed.connect("member")
    provider = OpenStackProvider(waiter=Recorder(), poll_interval=1)
    old = member.network.create_security_group(
        name=f"{settings.prefix}-prodserver", description="mlstack prodserver: SSH and the app"
    )
    member.network.create_security_group_rule(
        security_group_id=old.id, direction="ingress", protocol="tcp", port_range_min=22,
        port_range_max=22, remote_ip_prefix="0.0.0.0/0", ethertype="IPv4",
    )  # fmt: skip
    before = group_view(member, old.id)
    try:
        for attempt in (provider.up, provider.plan):
            with pytest.raises(ConfigError) as caught:
                attempt(settings)
            message, hint = caught.value.message, caught.value.hint
            assert f"security group {settings.prefix}-prodserver (id {old.id}" in message
            assert "not made by it" in message and "nothing was changed" in message
            assert "delete it" in hint and "rename it" in hint and old.id not in hint
        assert group_view(member, old.id) == before, "the old group is untouched"
        assert leftovers(member, settings.prefix, set(), set()) == [f"security group {old.name}"]
        provider.down(settings)  # --destroy: nothing of this deployment, and not the old group
        assert group_view(member, old.id) == before
    finally:
        provider.down(settings)
        member.network.delete_security_group(old.id, ignore_missing=True)
    assert leftovers(member, settings.prefix, set(), set()) == []


def test_a_second_group_of_our_name_beside_ours_is_left_alone(openstack_testbed, settings):
    """Neutron allows two groups of one name: after our deployment made <prefix>-prodserver, a colleague
    makes another of that name (with SSH open to the world). Our re-run uses ours by id, leaves theirs and
    its rules alone; our --destroy deletes ours only."""
    member, colleague = openstack_testbed.connect("member"), openstack_testbed.connect("colleague")
    lines = Lines()
    provider = OpenStackProvider(waiter=Recorder(), out=lines, poll_interval=1)
    theirs = None
    try:
        provider.up(settings)
        ours = [g for g in member.network.security_groups(name=f"{settings.prefix}-prodserver")]
        assert len(ours) == 1
        theirs = colleague.network.create_security_group(name=f"{settings.prefix}-prodserver")
        colleague.network.create_security_group_rule(
            security_group_id=theirs.id, direction="ingress", protocol="tcp", port_range_min=22,
            port_range_max=22, remote_ip_prefix="0.0.0.0/0", ethertype="IPv4",
        )  # fmt: skip
        before = group_view(member, theirs.id)
        ours_before = group_view(member, ours[0].id)

        lines.clear()
        provider.up(settings)

        assert f"another of that name (id {theirs.id}) is not ours: left alone" in "\n".join(lines)
        assert group_view(member, theirs.id) == before, "their group and its open rule are untouched"
        assert group_view(member, ours[0].id) == ours_before
        provider.down(settings)
        assert group_view(member, theirs.id) == before, "our --destroy leaves theirs"
        assert member.network.find_security_group(ours[0].id) is None, "ours is deleted"
    finally:
        provider.down(settings)
        if theirs is not None:
            colleague.network.delete_security_group(theirs.id, ignore_missing=True)
    assert leftovers(member, settings.prefix, set(), set()) == []
