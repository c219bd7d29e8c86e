"""openstacksdk and keystoneauth exceptions -> the launcher's errors, with a person's message."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from provisioner.errors import ConfigError, LauncherError, ProviderError, WaitTimeout
from provisioner.settings import Settings

CLOUDS_YAML_HINT = (
    "put your cloud in clouds.yaml (./clouds.yaml, ~/.config/openstack/clouds.yaml or "
    "/etc/openstack/clouds.yaml) and pass --cloud NAME or set OS_CLOUD=NAME, or source your OpenStack RC "
    "file (OS_AUTH_URL, OS_USERNAME/OS_PASSWORD or OS_APPLICATION_CREDENTIAL_ID/_SECRET, ...); "
    "to run without a cloud use --provider local"
)


def _is_quota(exc: Exception) -> bool:
    text = str(exc).lower()
    return "quota" in text or "limit exceeded" in text


@contextlib.contextmanager
def cloud_errors(settings: Settings) -> Iterator[None]:
    """Translate openstacksdk/keystoneauth exceptions into LauncherErrors with a person's message."""
    from keystoneauth1 import exceptions as ks
    from openstack import exceptions as sdk

    try:
        yield
    except LauncherError:
        raise
    except (ks.ClientException, sdk.SDKException) as exc:
        # openstacksdk sometimes wraps a keystoneauth error (Connection.authorize): judge the original
        original = exc.__context__ if isinstance(exc.__context__, ks.ClientException) else exc
        raise translate(settings, original) from None


def translate(settings: Settings, exc: Exception) -> LauncherError:
    """The LauncherError for an openstacksdk or keystoneauth exception."""
    from keystoneauth1 import exceptions as ks
    from openstack import exceptions as sdk

    where = f"cloud {settings.cloud!r}" if settings.cloud else "the cloud"
    if isinstance(exc, ks.AuthPluginException | ks.NoMatchingPlugin | ks.MissingAuthMethods):
        # keystoneauth's own reason names the missing option; keep it
        named = settings.cloud or os.environ.get("OS_CLOUD") or os.environ.get("OS_AUTH_URL")
        if not named:
            return ConfigError(f"no OpenStack credentials found ({exc})", CLOUDS_YAML_HINT)
        return ConfigError(f"the credentials of {where} are incomplete: {exc}", CLOUDS_YAML_HINT)
    if isinstance(exc, sdk.ConfigException):
        return ConfigError(f"OpenStack configuration: {exc}", CLOUDS_YAML_HINT)
    if isinstance(exc, ks.Unauthorized):
        return _http_error(where, 401, exc)
    if isinstance(exc, ks.ConnectTimeout):
        return ProviderError(
            f"no answer from {where}{_at(exc)} within {settings.api_timeout:g}s "
            f"(tried {settings.api_retries + 1} times): {exc}",
            "check auth_url, your network/proxy and the cloud's status page; a slow cloud needs a larger "
            "--api-timeout (MLSTACK_API_TIMEOUT) or --api-retries",
        )
    if isinstance(exc, ks.ConnectFailure | ks.DiscoveryFailure | ks.SSLError):
        return ProviderError(f"cannot reach {where}: {exc}", "check auth_url and your network/proxy")
    if isinstance(exc, ks.EndpointNotFound | ks.EmptyCatalog):
        return ProviderError(f"{where} has no usable endpoint: {exc}", "check region_name and interface")
    if isinstance(exc, ks.HttpError):
        return _http_error(where, exc.http_status, exc)
    if isinstance(exc, sdk.ResourceTimeout):
        return WaitTimeout(f"{where}: {exc}")
    if isinstance(exc, sdk.HttpException):
        return _http_error(where, exc.status_code, exc)
    return ProviderError(f"{where}: {exc}")


def _at(exc: Exception) -> str:
    """`` (<auth_url>)`` when the error names the address it could not reach."""
    text = str(exc)
    for word in text.split():
        if word.startswith(("http://", "https://")):
            address = word.rstrip(":.,")
            if "/v3" in address:
                address = address[: address.index("/v3") + 3]
            return f" ({address})"
    return ""


def _http_error(where: str, status: int | None, exc: Exception) -> LauncherError:
    detail = getattr(exc, "details", None) or str(exc)
    if status == 401:
        return ProviderError(
            f"Keystone refused the credentials for {where} (401 Unauthorized)",
            "check the user/password or the application credential id/secret (and that it has not expired); "
            "`openstack token issue` with the same settings shows the same answer",
        )
    if status in (403, 413, 409) and _is_quota(exc):
        return ProviderError(
            f"quota exceeded on {where}: {detail}",
            "free some resources or ask for a larger quota (`openstack limits show --absolute`, "
            "`openstack quota show`); a smaller --flavor may fit",
        )
    if status == 403:
        return ProviderError(f"{where} forbids this operation (403): {detail}")
    return ProviderError(f"{where} answered HTTP {status}: {detail}")
