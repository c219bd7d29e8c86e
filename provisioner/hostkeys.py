"""SSH host keys read from what cloud-init printed at first boot, pinned in the project's known_hosts.

cloud-init's ``keys_to_console`` module prints the host's public keys between ``-----BEGIN SSH HOST KEY
KEYS-----`` and ``-----END SSH HOST KEY KEYS-----`` (the FINGERPRINTS block before it has hashes only).
Clouds hand that text back as the server's console log (Nova's ``os-getConsoleOutput``); local machines
have it in /var/log/cloud-init-output.log. A console may prefix lines (``[  31.2] cloud-init[812]: ``,
``<14>Dec  2 10:44:04 cloud-init: ``), end them with ``\\r`` or wrap them at 80 columns, so every key is
checked by decoding it: its blob must be a complete SSH public key of the type it names.

Connections to a pinned machine use ``StrictHostKeyChecking=yes``: no key is ever accepted on trust.

``pin_machines`` is what a provider calls between "the machine runs" and the first SSH connection, with a
``read(name)`` that returns the machine's console text (OpenStack: the console log; local machines:
/var/log/cloud-init-output.log). cloud-init prints the keys near the end of its first boot (in the final
stage), so the text is read again until every machine's keys are there, within ``cloud_init_timeout``. A
console that cannot be read (``read`` raises Unreadable), or that shows no cloud-init output and stops
changing (nova's fake driver answers fixed text), ends the wait at once: ``host_keys`` auto then falls back
to accept-new for this run and says so in one line; ``console`` stops (ProviderError, exit code 3).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from provisioner.errors import ProviderError
from provisioner.machine import Machine
from provisioner.settings import Settings

BEGIN = "-----BEGIN SSH HOST KEY KEYS-----"
END = "-----END SSH HOST KEY KEYS-----"
MODES = ("auto", "console", "accept-new")
# key type -> the number of length-prefixed fields in its blob (the type itself included)
FIELDS = {
    "ssh-ed25519": 2,
    "ssh-rsa": 3,
    "ecdsa-sha2-nistp256": 3,
    "ecdsa-sha2-nistp384": 3,
    "ecdsa-sha2-nistp521": 3,
    "sk-ssh-ed25519@openssh.com": 3,
    "sk-ecdsa-sha2-nistp256@openssh.com": 4,
}
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def _blob_is_key(kind: str, body: str) -> bool:
    """``body`` decodes to a complete public key blob of type ``kind`` (nothing missing, nothing left)."""
    if len(body) % 4:
        return False
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return False
    fields, offset = [], 0
    while offset + 4 <= len(blob):
        (length,) = struct.unpack(">I", blob[offset : offset + 4])
        offset += 4
        if offset + length > len(blob):
            return False
        fields.append(blob[offset : offset + length])
        offset += length
    return offset == len(blob) and len(fields) == FIELDS[kind] and fields[0] == kind.encode()


def _keys_in(block: str) -> list[str]:
    """``type base64`` of every complete key in a block's text (wrapped bodies joined again)."""
    tokens = block.split()
    keys: list[str] = []
    for i, token in enumerate(tokens):
        if token not in FIELDS:
            continue
        body = ""
        for piece in tokens[i + 1 : i + 1 + 32]:  # a 16 kbit RSA key wrapped at 80 columns: ~35 lines
            if not _BASE64.fullmatch(piece):
                break
            body += piece
            if _blob_is_key(token, body):
                keys.append(f"{token} {body}")
                break
    return keys


def parse(console: str) -> list[str]:
    """The host keys (``type base64``) of the last complete KEYS block in ``console``; [] when there is
    none (cloud-init has not printed it yet, or never will)."""
    text = console.replace("\r", "")
    end = text.rfind(END)
    if end < 0:
        return []
    begin = text.rfind(BEGIN, 0, end)
    if begin < 0:
        return []
    return _keys_in(text[begin + len(BEGIN) : end])


def known_host_name(address: str, port: int = 22) -> str:
    """How known_hosts names a host: ``address`` on port 22, ``[address]:port`` otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


def pin(known_hosts: Path, address: str, port: int, keys: list[str]) -> None:
    """Make ``keys`` the only keys known_hosts holds for ``address:port`` (older entries removed)."""
    if not keys:
        raise ValueError("no keys to pin")
    name = known_host_name(address, port)
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    if known_hosts.exists():
        subprocess.run(["ssh-keygen", "-R", name, "-f", str(known_hosts)], capture_output=True, check=False)
        known_hosts.with_name(known_hosts.name + ".old").unlink(missing_ok=True)
    with known_hosts.open("a") as out:
        out.writelines(f"{name} {key}\n" for key in keys)


def pinned(known_hosts: Path, address: str, port: int = 22) -> list[str]:
    """The keys known_hosts holds for ``address:port`` (``type base64``)."""
    if not known_hosts.exists():
        return []
    result = subprocess.run(
        ["ssh-keygen", "-F", known_host_name(address, port), "-f", str(known_hosts)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = []
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not line.startswith("#"):
            found.append(f"{parts[1]} {parts[2]}")
    return found


class Unreadable(Exception):
    """The keys cannot be read from this console (the reason is the message)."""


Read = Callable[[str], str]
Out = Callable[[str], None]
PROGRESS_EVERY = 15.0


@dataclasses.dataclass
class _Watch:
    """One machine's console: its last text and since when it has not changed."""

    text: str | None = None
    since: float = 0.0


def wait_for_keys(
    read: Read, names: list[str], timeout: float, stale: float, poll: float, out: Out
) -> dict[str, list[str]]:
    """name -> host keys of every machine in ``names``, read with ``read`` until cloud-init printed them;
    Unreadable when a console cannot give them."""
    started = time.monotonic()
    last_line = started
    found: dict[str, list[str]] = {}
    watches = {name: _Watch() for name in names}
    while True:
        now = time.monotonic()
        for name in names:
            if name in found:
                continue
            text = read(name)
            keys = parse(text)
            if keys:
                found[name] = keys
                continue
            watch = watches[name]
            if text != watch.text:
                watch.text, watch.since = text, now
            elif "cloud-init" not in text.lower() and now - watch.since >= stale:
                first = text.strip().splitlines()[:1]
                shown = f" (it begins {first[0][:40]!r})" if first else " (it is empty)"
                raise Unreadable(
                    f"the console log of {name} shows no cloud-init output and stopped changing{shown}"
                )
        if len(found) == len(names):
            return found
        if now - started >= timeout:
            waiting = ", ".join(sorted(set(names) - set(found)))
            raise Unreadable(f"cloud-init printed no host keys within {timeout:.0f}s on {waiting}")
        if now - last_line >= PROGRESS_EVERY:
            last_line = now
            out(f"  host keys: waiting for cloud-init to print them on the console ({now - started:.0f}s)")
        time.sleep(poll)


def pin_machines(
    settings: Settings,
    machines: list[Machine],
    created: set[str],
    read: Read,
    out: Out,
    poll: float,
    stale: float,
) -> list[Machine]:
    """``machines`` with their host keys pinned (``host_key_checking`` yes), read with ``read`` (name ->
    console text). A reused machine whose keys known_hosts already holds is not read again. Unchanged
    (accept-new) with ``host_keys`` accept-new, or with auto when a console cannot give the keys (one line
    says so); ``console`` then stops with a ProviderError."""
    if settings.host_keys == "accept-new":
        return machines
    known = {
        m.name for m in machines if m.name not in created and pinned(settings.known_hosts, m.address, m.port)
    }
    to_read = [m for m in machines if m.name not in known]
    if to_read:
        try:
            keys = wait_for_keys(
                read, [m.name for m in to_read], settings.cloud_init_timeout, stale, poll, out
            )
        except Unreadable as exc:
            if settings.host_keys == "console":
                raise ProviderError(
                    f"--host-keys console: the SSH host keys cannot be read: {exc}",
                    "use --host-keys accept-new (the first key seen is kept) where the console log does not "
                    "show them; the image needs cloud-init's keys_to_console module (cloud-init/*.yaml turn "
                    "it on)",
                ) from None
            out(f"  host keys: {exc}; falling back to accept-new (the first key seen is kept)")
            return [
                dataclasses.replace(m, host_key_checking="yes") if m.name in known else m for m in machines
            ]
        for machine in to_read:
            pin(settings.known_hosts, machine.address, machine.port, keys[machine.name])
        out(
            f"  host keys: {sum(len(k) for k in keys.values())} keys of {len(to_read)} machines read from "
            f"what cloud-init printed, pinned in {settings.known_hosts} (StrictHostKeyChecking=yes)"
        )
    return [dataclasses.replace(m, host_key_checking="yes") for m in machines]
