"""Quick reachability probes for ``make up`` with no flags: is the real-world path open from here?

The default install path needs Docker's apt repository and Docker Hub (base images); the data set comes
from its download address. On a network that reaches neither (a closed CI, a corporate network), the
launcher takes the self-built path (offline mode) and asks for a local copy of the data set, instead of
failing a minute into the configuration. Each probe is one HEAD request with a short timeout: an HTTP
answer of any status counts as reachable (Docker Hub answers 401 without a token); a name that does not
resolve, a refused or timed-out connection, or a TLS failure does not.
"""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from provisioner.errors import ConfigError
from provisioner.settings import REPO_ROOT

TIMEOUT = 3.0
# What the default path downloads from, on the machines: Docker's apt repository and key, Docker Hub.
INSTALL_SOURCES: tuple[tuple[str, str], ...] = (
    ("Docker's apt repository", "https://download.docker.com/linux/debian/gpg"),
    ("Docker Hub", "https://registry-1.docker.io/v2/"),
)
# The roles' default (model_serving_dataset_url); the launcher probes the one the user's variables give.
DATASET_URL = "https://raw.githubusercontent.com/jbrownlee/Datasets/master/pima-indians-diabetes.data.csv"
DATA_DIR = REPO_ROOT / "data"
DATASET_NAME = "pima-indians-diabetes.csv"

Probe = Callable[[str, float], str | None]


def unreachable(url: str, timeout: float = TIMEOUT) -> str | None:
    """None when ``url`` answers HTTP (any status), else why not, in a few words."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "mlstack-probe"})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # the server answered
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, socket.gaierror):
            return "name does not resolve"
        if isinstance(reason, ssl.SSLError):
            return f"TLS failed ({reason.reason or reason})"
        if isinstance(reason, TimeoutError):
            return f"no answer within {timeout:.0f}s"
        return str(reason)
    except TimeoutError:
        return f"no answer within {timeout:.0f}s"
    except (OSError, ValueError) as exc:
        return str(exc)


def install_sources_blocked(
    sources: Sequence[tuple[str, str]] | None = None, probe: Probe = unreachable
) -> list[str]:
    """``"<what> (<why>)"`` for each install source (default INSTALL_SOURCES) that does not answer; empty
    when all do."""
    blocked = []
    for what, url in INSTALL_SOURCES if sources is None else sources:
        why = probe(url, TIMEOUT)
        if why is not None:
            blocked.append(f"{what} ({why})")
    return blocked


def local_dataset(data_dir: Path | None = None) -> Path | None:
    """The data set dropped into the repository's ``data/`` folder (git-ignored), if there is one."""
    candidate = (DATA_DIR if data_dir is None else data_dir) / DATASET_NAME
    return candidate if candidate.is_file() else None


def dataset_unavailable(url: str, why: str, data_dir: Path | None = None) -> ConfigError:
    """The error for a data set that can be neither downloaded nor found here: what to give, and where."""
    data_dir = DATA_DIR if data_dir is None else data_dir
    shown = data_dir.relative_to(REPO_ROOT) if data_dir.is_relative_to(REPO_ROOT) else data_dir
    return ConfigError(
        f"the data set cannot be downloaded from {url} ({why}) and there is no {shown}/{DATASET_NAME}",
        f"give a copy of the CSV: make up DATASET=path/to/{DATASET_NAME} "
        f"(or --dataset-file PATH, or put it at {shown}/{DATASET_NAME})",
    )
