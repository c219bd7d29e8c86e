"""Extra variables for the playbook runs, given the way ansible-playbook takes them.

Each entry is one of:

- ``@FILE``: a YAML (or JSON) file holding a mapping;
- ``{...}``: an inline YAML/JSON mapping (``-e '{"workers": 2}'``);
- ``key=value [key2=value2 ...]``: strings, split like a shell line (``-e "a=1 b='two words'"``).

Entries are merged in order, the later one winning per top-level key (Ansible's own rule for ``-e``).
The launcher's own variables (offline mode, the data set) come first, so a user's entry always wins.
"""

from __future__ import annotations

import os
import shlex
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from provisioner.errors import ConfigError

HINT = "give @FILE (a YAML mapping), key=value, or an inline YAML mapping, as ansible-playbook -e does"


def _mapping(data: Any, where: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a mapping of variable names to values", HINT)
    bad = [key for key in data if not isinstance(key, str) or not key.isidentifier()]
    if bad:
        raise ConfigError(f"{where}: {bad[0]!r} is not a valid variable name", HINT)
    return dict(data)


def read_file(path: Path) -> dict[str, Any]:
    """The variables of a YAML file; ConfigError naming the file when it is missing or not a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"the extra variables file {path} does not exist",
            "check the path given with --extra-vars @FILE, extra_vars or MLSTACK_EXTRA_VARS",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the extra variables file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the extra variables file {path} is not valid YAML: {exc}") from None
    return _mapping(data, f"the extra variables file {path}")


def parse(entry: str) -> dict[str, Any]:
    """The variables of one entry (see the module docstring)."""
    text = entry.strip()
    if text.startswith("@"):
        name = text[1:].strip()
        if not name:
            raise ConfigError("--extra-vars @ needs a file name", HINT)
        return read_file(Path(name).expanduser())
    if text.startswith("{"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--extra-vars {entry!r} is not a valid YAML mapping: {exc}", HINT) from None
        return _mapping(data, f"--extra-vars {entry!r}")
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ConfigError(f"--extra-vars {entry!r}: {exc}", HINT) from None
    values: dict[str, Any] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ConfigError(f"--extra-vars {entry!r}: {word!r} is not key=value", HINT)
        values[key] = value
    return _mapping(values, f"--extra-vars {entry!r}")


def load(entries: Iterable[str]) -> dict[str, Any]:
    """Every entry merged in order (the later wins per top-level key)."""
    merged: dict[str, Any] = {}
    for entry in entries:
        merged.update(parse(entry))
    return merged


def merge(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Layers merged lowest first (a shallow merge, like Ansible's extra variables)."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def describe(entries: Iterable[str]) -> str:
    """``a.yml, b.yml, key=value`` for messages."""
    return ", ".join(entries)


def write(values: Mapping[str, Any], path: Path) -> Path:
    """Write ``values`` as YAML to ``path`` atomically (mode 0600: they may hold secrets)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("# The extra variables of the launcher's last configuration run (regenerated).\n")
            yaml.safe_dump(dict(values), handle, sort_keys=True, default_flow_style=False)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror or exc}",
            "make the state directory writable or choose another with MLSTACK_STATE_DIR",
        ) from None
    return path
