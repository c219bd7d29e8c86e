"""Host keys read from cloud-init's console text (provisioner/hostkeys.py), on what a real machine printed:
data/cloud-init-output-local-machine.log is /var/log/cloud-init-output.log of a local machine (cloud-init
25.1.4, Debian 13), data/local-machine-host-keys.pub its /etc/ssh/ssh_host_*_key.pub. The variants below
are that text as consoles deliver it (CR LF, prefixed lines, 80-column wrapping), not invented keys."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from provisioner import hostkeys

DATA = Path(__file__).parent / "data"
CONSOLE = (DATA / "cloud-init-output-local-machine.log").read_text()
KEYS = sorted(
    " ".join(line.split()[:2]) for line in (DATA / "local-machine-host-keys.pub").read_text().splitlines()
)
FAKE_DRIVER = "FAKE CONSOLE OUTPUT\nANOTHER\nLAST LINE"  # nova.virt.fake.FakeDriver.get_console_output


def test_the_keys_block_of_a_real_first_boot_gives_the_machines_own_keys():
    assert sorted(hostkeys.parse(CONSOLE)) == KEYS
    assert len(KEYS) == 3


def test_the_fingerprints_block_alone_gives_nothing():
    """Before the KEYS block is printed (or when only the hashes are): nothing to pin."""
    before_keys = CONSOLE[: CONSOLE.index(hostkeys.BEGIN)]
    assert "BEGIN SSH HOST KEY FINGERPRINTS" in before_keys
    assert hostkeys.parse(before_keys) == []


def test_a_block_still_being_printed_gives_nothing():
    cut = CONSOLE[: CONSOLE.index("ssh-rsa ") + 40]
    assert hostkeys.parse(cut) == []


@pytest.mark.parametrize("text", [FAKE_DRIVER, "", "-----END SSH HOST KEY KEYS-----\n"])
def test_no_keys_block_gives_nothing(text):
    assert hostkeys.parse(text) == []


def test_crlf_and_prefixed_console_lines():
    serial = "".join(
        f"[  31.{i:03d}] cloud-init[812]: {line}\r\n" for i, line in enumerate(CONSOLE.splitlines())
    )
    assert sorted(hostkeys.parse(serial)) == KEYS


def test_keys_wrapped_at_80_columns_are_joined_again():
    begin, end = CONSOLE.index(hostkeys.BEGIN), CONSOLE.index(hostkeys.END)
    block = CONSOLE[begin:end].splitlines()
    wrapped = "\n".join(textwrap.fill(line, 80, break_long_words=True) for line in block)
    assert max(len(line) for line in wrapped.splitlines()) == 80
    assert sorted(hostkeys.parse(CONSOLE[:begin] + wrapped + "\n" + CONSOLE[end:])) == KEYS


def test_a_damaged_key_is_left_out():
    rsa = next(key for key in KEYS if key.startswith("ssh-rsa"))
    damaged = CONSOLE.replace(rsa, rsa[:-12] + "AAAA")
    assert sorted(hostkeys.parse(damaged)) == [key for key in KEYS if key != rsa]


def test_the_last_block_wins_after_the_keys_were_regenerated():
    ed25519 = next(key for key in KEYS if key.startswith("ssh-ed25519"))
    second_boot = f"{hostkeys.BEGIN}\n{ed25519} root@prodserver\n{hostkeys.END}\n"
    assert hostkeys.parse(CONSOLE + "reboot\n" + second_boot) == [ed25519]


def test_pin_replaces_what_known_hosts_held_and_ssh_keygen_finds_the_keys(tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("203.0.113.9 " + KEYS[0] + "\n")

    hostkeys.pin(known_hosts, "127.0.0.1", 2222, KEYS[:1])  # an older machine on the same port
    hostkeys.pin(known_hosts, "127.0.0.1", 2222, KEYS[1:])
    assert sorted(hostkeys.pinned(known_hosts, "127.0.0.1", 2222)) == KEYS[1:], "the old key is gone"
    hostkeys.pin(known_hosts, "127.0.0.1", 2222, KEYS)
    hostkeys.pin(known_hosts, "127.0.0.1", 2222, KEYS)  # twice: no duplicates

    assert sorted(hostkeys.pinned(known_hosts, "127.0.0.1", 2222)) == KEYS
    assert hostkeys.pinned(known_hosts, "203.0.113.9") == [KEYS[0]], "other hosts are kept"
    assert hostkeys.pinned(known_hosts, "127.0.0.1") == [], "port 22 is another host"
    found = subprocess.run(
        ["ssh-keygen", "-F", "[127.0.0.1]:2222", "-f", str(known_hosts)], capture_output=True, text=True
    )
    assert (
        found.returncode == 0
        and len([x for x in found.stdout.splitlines() if x.startswith("[127.0.0.1]:2222 ")]) == 3
    )
