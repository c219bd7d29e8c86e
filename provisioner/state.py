"""What the launcher created, recorded as it goes in a JSON file under the state directory.

``--destroy`` deletes only what is recorded here (plus servers tagged with our prefix), so a user's
pre-existing keypair, security group or floating IP is never removed. Every change is written at once,
atomically, so a run that stops half-way still leaves an accurate record.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from provisioner.errors import ConfigError


class StateFile:
    """A small JSON document: ``{"servers": {...}, "floating_ips": {...}, "keypair": ..., ...}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = self._load()

    def _load(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(f"cannot read the state file {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ConfigError(
                f"the state file {self.path} is not valid JSON",
                "fix or move it away; it lists what the launcher created",
            ) from None
        return data if isinstance(data, dict) else {}

    def save(self) -> None:
        """Write the document atomically (mode 0600)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(self.data, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the state file {self.path}: {exc.strerror or exc}",
                "make the state directory writable or choose another with MLSTACK_STATE_DIR",
            ) from None

    def section(self, name: str) -> dict[str, Any]:
        """A mapping inside the document (created empty when missing)."""
        value = self.data.setdefault(name, {})
        if not isinstance(value, dict):
            value = self.data[name] = {}
        return value

    def record(self, section: str, key: str, value: Any) -> None:
        """Remember ``key -> value`` under ``section`` and save."""
        self.section(section)[key] = value
        self.save()

    def forget(self, section: str, key: str) -> None:
        """Drop ``key`` from ``section`` and save (no-op when absent)."""
        if self.section(section).pop(key, None) is not None:
            self.save()

    def is_empty(self) -> bool:
        """True when nothing is recorded."""
        return not any(v for k, v in self.data.items() if isinstance(v, dict))

    def remove(self) -> None:
        """Delete the file (after everything it lists is gone)."""
        self.path.unlink(missing_ok=True)
        self.data = {}
