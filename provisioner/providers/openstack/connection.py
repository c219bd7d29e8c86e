"""The connection to the cloud: clouds.yaml read and checked first, an API timeout and retries on every
request (Keystone's too), a "connecting to <auth_url>" line before the first request.

openstacksdk skips a clouds.yaml it cannot parse with only a log warning, and then reports "cloud not
found"; a clouds.yaml downloaded from Horizon has no password and fails deep inside keystoneauth. Both are
found here first and turned into a message that says what to do.
"""

from __future__ import annotations

import functools
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from provisioner.errors import ConfigError
from provisioner.settings import Settings

if TYPE_CHECKING:
    from openstack.config.cloud_region import CloudRegion
    from openstack.connection import Connection

Out = Callable[[str], None]
PASSWORD_AUTH = ("password", "v3password", "v2password")


def config_files(env: dict[str, str] | None = None) -> list[Path]:
    """The clouds.yaml files openstacksdk reads, in its order (OS_CLIENT_CONFIG_FILE first)."""
    from openstack.config import loader

    env = dict(os.environ) if env is None else env
    files = [Path(p) for p in loader.CONFIG_FILES]
    override = env.get("OS_CLIENT_CONFIG_FILE")
    if override:
        files.insert(0, Path(override))
    return files


def check_yaml(files: list[Path]) -> None:
    """Raise a ConfigError naming the file and line of the first clouds.yaml that is not valid YAML
    (openstacksdk would skip it silently and report the cloud as missing)."""
    for path in files:
        if not path.is_file():
            continue
        try:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError:
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark else str(path)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(
                f"{where}: not valid YAML ({problem})",
                "fix the YAML (indentation with spaces, a space after each ':'); "
                "`python -c 'import yaml,sys; yaml.safe_load(open(sys.argv[1]))' FILE` shows the same error",
            ) from None
        return  # openstacksdk reads the first file that exists


def _missing_password(config: dict[str, Any]) -> bool:
    auth_type = str(config.get("auth_type") or "password")
    auth = config.get("auth") or {}
    return auth_type in PASSWORD_AUTH and bool(auth.get("auth_url")) and not auth.get("password")


def load_region(
    settings: Settings,
    env: dict[str, str] | None = None,
    interactive: bool | None = None,
    prompt: Callable[[str], str] = getpass.getpass,
) -> CloudRegion:
    """The cloud's configuration with the launcher's timeout and retries; a Horizon clouds.yaml (no
    password) takes OS_PASSWORD, else a prompt on a terminal, else a ConfigError saying what to add."""
    from keystoneauth1 import session as ks_session
    from openstack import config as os_config

    env = dict(os.environ) if env is None else env
    check_yaml(config_files(env))
    interactive = sys.stdin.isatty() if interactive is None else interactive
    retries = settings.api_retries
    loader = os_config.OpenStackConfig(
        app_name="mlstack-launcher",
        session_constructor=functools.partial(ks_session.Session, connect_retries=retries),
    )
    options: dict[str, Any] = {
        "api_timeout": settings.api_timeout,
        "connect_retries": retries,
        "status_code_retries": retries,
    }
    if settings.region:
        options["region_name"] = settings.region
    raw = loader.get_one(cloud=settings.cloud, validate=False, **options)
    if _missing_password(raw.config):
        name = settings.cloud or env.get("OS_CLOUD") or "(OS_* variables)"
        if env.get("OS_PASSWORD"):
            options["auth"] = {"password": env["OS_PASSWORD"]}
        elif interactive:
            where = raw.config["auth"]["auth_url"]
            options["auth"] = {"password": prompt(f"Password for {name} ({where}): ")}
        else:
            raise ConfigError(
                f"cloud {name!r} has no password (a clouds.yaml downloaded from Horizon leaves it out)",
                "set OS_PASSWORD, or add `password: ...` under `auth:` in clouds.yaml (better: an "
                "application credential, `openstack application credential create mlstack`, with auth_type "
                "v3applicationcredential); run on a terminal to be asked for it",
            )
    return loader.get_one(cloud=settings.cloud, **options)


def auth_url(region: CloudRegion) -> str:
    """The Keystone address of ``region`` (for the "connecting to" line)."""
    return str((region.config.get("auth") or {}).get("auth_url") or "(no auth_url)")


def connect(settings: Settings, out: Out) -> Connection:
    """An authorised Connection; prints where it connects before the first request."""
    import openstack
    from openstack.connection import Connection

    if settings.verbose >= 2:
        openstack.enable_logging(debug=True)
    region = load_region(settings)
    out(
        f"Connecting to {auth_url(region)} (API timeout {settings.api_timeout:g}s, "
        f"{settings.api_retries} retries)"
    )
    conn = Connection(config=region, app_name="mlstack-launcher")
    conn.authorize()
    return conn
