"""One frozen Settings object, loaded with a documented precedence.

Precedence (highest first):

1. command-line options (``start_instances.py --flavor m1.large``)
2. environment variables ``MLSTACK_<FIELD>`` (``MLSTACK_FLAVOR=m1.large``)
3. the settings file: ``--settings FILE``, else ``$MLSTACK_SETTINGS``, else ``mlstack.yml`` in the
   repository root (optional; a YAML mapping of field names to values)
4. the defaults below

The one-shot actions (``destroy``, ``status``, ``dry_run``) come from the command line only, so a stale
environment variable can never destroy anything.

``extra_vars`` is the one list: the files of the settings file or ``MLSTACK_EXTRA_VARS`` (colon-separated),
then every ``--extra-vars`` of the command line, after them (so they win). ``workers`` left unset (None)
means "keep the worker machines that exist"; the launcher asks the provider how many that is.
"""

from __future__ import annotations

import dataclasses
import difflib
import getpass
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from provisioner.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
SETTINGS_FILE = REPO_ROOT / "mlstack.yml"
ENV_PREFIX = "MLSTACK_"
PROVIDERS = ("openstack", "local")
ACCESS_MODES = ("auto", "floating", "fixed")
HOST_KEY_MODES = ("auto", "console", "accept-new")
MAX_WORKERS = 50  # a typo (--workers 500) must not ask a cloud for hundreds of servers
CLI_ONLY = frozenset({"destroy", "status", "dry_run"})

_PREFIX_RE = re.compile(r"[a-z][a-z0-9-]{0,30}")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Everything the launcher needs to know; see ``FIELD_HELP`` for one line per field."""

    provider: str = "local"
    cloud: str | None = None
    region: str | None = None
    api_timeout: float = 30.0
    api_retries: int = 2
    image: str = "debian-12"
    flavor: str = "m1.medium"
    network: str | None = None
    availability_zone: str | None = None
    config_drive: bool = False
    boot_from_volume: bool | None = None  # None: when the flavor has no disk
    volume_size: int = 20
    floating_network: str | None = None
    devserver_floating_ip: bool = False
    access: str = "auto"
    host_keys: str = "auto"
    key_name: str | None = None
    public_key: Path | None = None
    private_key: Path | None = None
    prefix: str = "mlstack"
    allowed_cidr: str | None = None  # required on OpenStack: never silently the whole world
    ssh_user: str = "appuser"
    configure: bool = True
    destroy: bool = False
    status: bool = False
    dry_run: bool = False
    verbose: int = 0
    workers: int | None = None
    inventory_dir: Path = REPO_ROOT / "inventory"
    state_dir: Path = REPO_ROOT / ".state"
    artifacts_dir: Path = REPO_ROOT / "artifacts"
    playbook: Path = REPO_ROOT / "configuration.yml"
    drain_playbook: Path = REPO_ROOT / "playbooks" / "drain-workers.yml"
    server_timeout: float = 600.0
    ssh_timeout: float = 300.0
    cloud_init_timeout: float = 900.0
    local_image: str = "mlstack/machine:trixie"
    local_ssh_port_base: int = 2222
    local_app_port: int = 5100
    extra_vars: tuple[str, ...] = ()
    offline: bool | None = None  # None: decided by probing (local machines), see provisioner/probe.py
    dataset_file: Path | None = None

    @property
    def keypair_name(self) -> str:
        """The Nova keypair name: ``key_name`` or ``<prefix>-key``."""
        return self.key_name or f"{self.prefix}-key"

    @property
    def known_hosts(self) -> Path:
        """The project's own known_hosts file (host keys are accepted once, then checked)."""
        return self.state_dir / "known_hosts"

    def server_name(self, role: str) -> str:
        """``<prefix>-<role>``, the deterministic name of a machine."""
        return f"{self.prefix}-{role}"


FIELD_HELP: dict[str, str] = {
    "provider": "where the machines run: openstack or local (systemd containers on the local Docker)",
    "cloud": "clouds.yaml entry (else OS_CLOUD, else the OS_* variables of an RC file)",
    "region": "the cloud's region (default: region_name of clouds.yaml / OS_REGION_NAME)",
    "api_timeout": "seconds to wait for an answer to each OpenStack API request (Keystone's too)",
    "api_retries": "retries of an OpenStack request after a connection failure or a 503 (and similar)",
    "image": "Glance image name or ID (a Debian or Ubuntu cloud image)",
    "flavor": "Nova flavor name or ID",
    "availability_zone": "Nova availability zone for the servers (default: the cloud's choice)",
    "config_drive": "attach a config drive (networks without a metadata service)",
    "boot_from_volume": (
        "boot from a new volume of volume_size GB (deleted with the server); unset: only when the flavor has "
        "no disk (disk 0)"
    ),
    "volume_size": "size in GB of the boot volume (with boot_from_volume)",
    "network": "Neutron network for both servers (default: the project's only network)",
    "floating_network": "external network for floating IPs (default: the one the subnet's router reaches)",
    "access": (
        "how this machine reaches the servers: floating (a floating IP for prodserver), fixed (their own "
        "addresses: a provider network or a VPN; no floating IP), auto (floating unless the address is "
        "public)"
    ),
    "host_keys": (
        "how SSH host keys are trusted: console (pinned from the keys cloud-init printed to the console "
        "log; refused when they cannot be read), accept-new (the first key seen is kept), auto (console "
        "where the cloud provides the log, else accept-new with a note)"
    ),
    "devserver_floating_ip": "give devserver a floating IP too (default: reach it through prodserver)",
    "key_name": "Nova keypair name (default <prefix>-key)",
    "public_key": "public key installed for appuser (default: .ssh/ of the repo, ~/.ssh/id_*, or a new one)",
    "private_key": "matching private key (default: the public key path without .pub)",
    "prefix": (
        "name prefix of every resource: <prefix>-prodserver, <prefix>-devserver, <prefix>-worker-N "
        "(default on OpenStack: mlstack-<your local user name>)"
    ),
    "allowed_cidr": (
        "source CIDR allowed to reach SSH (22) and the app (5100); required on OpenStack (your address "
        "a.b.c.d/32, your network, or 0.0.0.0/0 for the whole world, explicitly)"
    ),
    "ssh_user": "the login user cloud-init creates",
    "configure": "run configuration.yml after the machines are up",
    "destroy": "remove the machines and everything the launcher created (CLI only)",
    "status": "show the machines that exist and exit (CLI only)",
    "dry_run": "print the plan and touch nothing (CLI only)",
    "verbose": "more output (-v progress details, -vv also SDK/HTTP debug and ansible -v)",
    "workers": (
        "worker machines <prefix>-worker-1..N; unset keeps those that exist; fewer than exist drains, "
        "then removes the highest first (0 removes them all); at most 50"
    ),
    "inventory_dir": "where inventory/hosts.yml is written (group_vars/ there is never touched)",
    "state_dir": "what the launcher created, and its known_hosts file",
    "artifacts_dir": "ansible-runner artifacts go to <artifacts_dir>/ansible/",
    "playbook": "the playbook ansible-runner runs",
    "drain_playbook": "run on worker machines before they are removed (skipped when the file is missing)",
    "server_timeout": "seconds to wait for a server to become ACTIVE",
    "ssh_timeout": "seconds to wait for SSH to answer",
    "cloud_init_timeout": "seconds to wait for `cloud-init status --wait`",
    "local_image": "local provider: the machine image",
    "local_ssh_port_base": (
        "local provider: first loopback port for SSH (0 = any free port; a busy port falls back to a free "
        "one)"
    ),
    "local_app_port": (
        "local provider: loopback port for prodserver's app (0 = any free port; a busy port falls back to a "
        "free one)"
    ),
    "extra_vars": (
        "YAML files of extra variables for the configuration and drain runs, in order (later wins); "
        "colon-separated in the environment; --extra-vars come after them"
    ),
    "offline": (
        "build the base images here and ship them as archives, Docker from the distribution, no pulls "
        "(networks without a registry or Docker's apt repository); unset: on local machines, on when "
        "Docker Hub or Docker's apt repository does not answer within 3 s, else off; on OpenStack, off"
    ),
    "dataset_file": "a local copy of the data set (CSV) for the servers, instead of downloading it",
}


def env_name(field: str) -> str:
    """``flavor`` -> ``MLSTACK_FLAVOR``."""
    return ENV_PREFIX + field.upper()


def _field_types() -> dict[str, Any]:
    hints = get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)}


def _absolute(text: str, base: Path | None) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() or base is None else (base / path)


def extra_vars_entries(value: Any, source: str, base: Path | None = None) -> tuple[str, ...]:
    """Files of extra variables from a settings file (a list, or one path) or the environment
    (colon-separated) as ``@<absolute path>`` entries, relative paths resolved against ``base``."""
    if isinstance(value, list | tuple):
        items = [str(item) for item in value]
    elif isinstance(value, str):
        items = value.split(os.pathsep)
    else:
        raise ConfigError(f"{source}: bad value {value!r} for extra_vars: expected a list of YAML files")
    entries = []
    for item in items:
        text = item.strip().removeprefix("@").strip()
        if text:
            entries.append("@" + str(_absolute(text, base)))
    return tuple(entries)


def _coerce(field: str, value: Any, source: str, base: Path | None = None) -> Any:
    """Turn a value from a file or the environment into the field's type, or say what is wrong."""
    kind = _field_types()[field]
    if field == "extra_vars":
        return extra_vars_entries(value, source, base)
    text = str(value).strip() if not isinstance(value, bool | int | float | Path) else value
    optional = "None" in str(kind)
    if optional and (value is None or text == ""):
        return None
    if kind == int | None:
        kind = int
    if kind == bool | None:
        if str(text).lower() == "auto":
            return None
        kind = bool
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            lowered = str(text).lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("expected true/false")
        if kind is int:
            if isinstance(value, bool):
                raise ValueError("expected a whole number")
            return int(text)
        if kind is float:
            return float(text)
        if kind in (Path, Path | None):
            return _absolute(str(text), base)
        return str(text)
    except ValueError as exc:
        raise ConfigError(f"{source}: bad value {value!r} for {field}: {exc}") from None


def _read_file(path: Path, required: bool) -> dict[str, Any]:
    if not path.exists():
        if required:
            raise ConfigError(f"settings file {path} does not exist")
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"settings file {path} must be a mapping of setting names to values")
    names = {f.name for f in dataclasses.fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        field = str(key).replace("-", "_")
        if field not in names:
            close = difflib.get_close_matches(field, sorted(names), n=3)
            hint = (
                f"did you mean {', '.join(close)}?"
                if close
                else f"known settings: {', '.join(sorted(names))}"
            )
            raise ConfigError(f"settings file {path}: unknown setting {key!r}", hint)
        if field in CLI_ONLY:
            raise ConfigError(f"settings file {path}: {key!r} is a command-line option only")
        values[field] = _coerce(field, value, str(path), base=path.parent)
    return values


def _read_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        name = env_name(f.name)
        if f.name in CLI_ONLY or name not in env:
            continue
        values[f.name] = _coerce(f.name, env[name], f"environment variable {name}", base=Path.cwd())
    return values


def validate(settings: Settings) -> Settings:
    """Reject values no provider can use, with a message that names the setting."""
    if settings.provider not in PROVIDERS:
        raise ConfigError(f"unknown provider {settings.provider!r}", f"choose one of: {', '.join(PROVIDERS)}")
    if not _PREFIX_RE.fullmatch(settings.prefix):
        raise ConfigError(
            f"bad prefix {settings.prefix!r}",
            "use 1-31 lowercase letters, digits or '-', starting with a letter",
        )
    try:
        if settings.allowed_cidr is not None:
            ipaddress.ip_network(settings.allowed_cidr, strict=False)
    except ValueError:
        raise ConfigError(
            f"bad allowed_cidr {settings.allowed_cidr!r}", "give a CIDR such as 203.0.113.7/32"
        ) from None
    if settings.workers is not None and settings.workers < 0:
        raise ConfigError(f"workers must be 0 or more, not {settings.workers}")
    if settings.workers is not None and settings.workers > MAX_WORKERS:
        raise ConfigError(
            f"workers: at most {MAX_WORKERS} worker machines, not {settings.workers}",
            "each worker is one server (and one cloud quota unit); for more, raise MAX_WORKERS in "
            "provisioner/settings.py knowingly",
        )
    if settings.access not in ACCESS_MODES:
        raise ConfigError(f"unknown access {settings.access!r}", f"choose one of: {', '.join(ACCESS_MODES)}")
    if settings.host_keys not in HOST_KEY_MODES:
        raise ConfigError(
            f"unknown host_keys {settings.host_keys!r}", f"choose one of: {', '.join(HOST_KEY_MODES)}"
        )
    if settings.volume_size <= 0:
        raise ConfigError(f"volume_size must be a positive number of GB, not {settings.volume_size}")
    if settings.api_retries < 0:
        raise ConfigError(f"api_retries must be 0 or more, not {settings.api_retries}")
    for name in ("server_timeout", "ssh_timeout", "cloud_init_timeout", "api_timeout"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{name} must be positive")
    return settings


def default_prefix(provider: str, user: str | None = None) -> str:
    """The prefix when none is given: ``mlstack`` for local machines (this machine is yours); on a cloud,
    whose project colleagues share, ``mlstack-<local user name>`` so that two users' defaults differ."""
    if provider == "local":
        return Settings.prefix
    if user is None:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = ""
    clean = re.sub(r"[^a-z0-9-]+", "-", user.lower()).strip("-")
    return f"{Settings.prefix}-{clean}"[:31].rstrip("-") if clean else Settings.prefix


def load_settings(
    cli: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    settings_file: Path | None = None,
) -> Settings:
    """Merge defaults < settings file < environment < command line and validate the result.

    ``cli`` holds only the options the user actually gave; ``env`` defaults to ``os.environ``;
    ``settings_file`` defaults to ``$MLSTACK_SETTINGS`` or ``mlstack.yml`` in the repository root.
    """
    env = os.environ if env is None else env
    explicit = settings_file is not None or bool(env.get(ENV_PREFIX + "SETTINGS"))
    if settings_file is None:
        settings_file = (
            Path(env[ENV_PREFIX + "SETTINGS"]) if env.get(ENV_PREFIX + "SETTINGS") else SETTINGS_FILE
        )
    merged: dict[str, Any] = {}
    merged.update(_read_file(settings_file, required=explicit))
    merged.update(_read_env(env))
    for key, value in (cli or {}).items():
        if value is None:
            continue
        if key == "extra_vars":  # the one list: the command line's come after the lower layers' files
            value = (*merged.get("extra_vars", ()), *value)
        merged[key] = value
    if "prefix" not in merged:
        merged["prefix"] = default_prefix(str(merged.get("provider", Settings.provider)))
    try:
        settings = Settings(**merged)
    except TypeError as exc:
        raise ConfigError(f"bad settings: {exc}") from None
    return validate(settings)
