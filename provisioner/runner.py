"""Run a playbook through ansible-runner: a live line per task and host, a recap, kept artifacts.

Two runs use it: the configuration (``configure``) and, before worker machines are removed, the drain
playbook limited to those machines (``drain``).

The artifacts of every run stay in ``<artifacts_dir>/ansible/<timestamp>/`` (stdout, job_events/, the
command line); the last 20 runs are kept. Host keys are checked (ANSIBLE_HOST_KEY_CHECKING=True; the
inventory's ssh args check the keys pinned in the project's known_hosts strictly, or accept a new key
once where they could not be pinned), never switched off.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provisioner.errors import ConfigError, ConfigureError

Out = Callable[[str], None]
KEEP_RUNS = 20
STAT_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")
DRAIN_HOSTS_VAR = "drain_hosts"  # the extra variable that names the hosts a drain run works on


def say(line: str) -> None:
    """Default output."""
    print(line, flush=True)


@dataclass
class RunResult:
    """The verdict of one playbook run."""

    status: str
    rc: int
    stats: dict[str, dict[str, int]]
    artifacts: Path
    failed_hosts: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when ansible succeeded and no host failed or was unreachable."""
        return self.status == "successful" and self.rc == 0 and not self.failed_hosts


class EventPrinter:
    """ansible-runner event handler: one line per task result, per host."""

    def __init__(self, out: Out = say, verbose: int = 0) -> None:
        self.out = out
        self.verbose = verbose
        self.play = ""

    def __call__(self, event: Mapping[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self.play = str(data.get("play", ""))
            self.out(f"PLAY {self.play}")
        elif kind in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable", "runner_on_skipped"):
            self._result(kind, data)
        return True

    def _result(self, kind: str, data: Mapping[str, Any]) -> None:
        host = str(data.get("host", "?"))
        task = str(data.get("task", "?"))
        role = data.get("role")
        label = f"{role} : {task}" if role else task
        res = data.get("res") or {}
        if kind == "runner_on_ok":
            word = "changed" if res.get("changed") else "ok"
        elif kind == "runner_on_failed":
            word = "ignored" if data.get("ignore_errors") else "FAILED"
        elif kind == "runner_on_unreachable":
            word = "UNREACHABLE"
        else:
            word = "skipped"
            if not self.verbose:
                return
        duration = data.get("duration")
        took = f" ({duration:.1f}s)" if isinstance(duration, int | float) and duration >= 1 else ""
        self.out(f"  {word:<11} {host:<12} {label}{took}")
        if word in ("FAILED", "UNREACHABLE"):
            message = res.get("msg") or res.get("stderr") or res.get("reason") or ""
            for line in str(message).strip().splitlines()[:10]:
                self.out(f"  {'':<11} {'':<12} | {line}")


def recap(stats: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Lines like ``prodserver   ok=12 changed=3 failed=0 unreachable=0 skipped=1``."""
    hosts = sorted({h for key in STAT_KEYS for h in (stats.get(key) or {})})
    lines = []
    for host in hosts:
        count = {key: (stats.get(key) or {}).get(host, 0) for key in STAT_KEYS}
        lines.append(
            f"  {host:<12} ok={count['ok']} changed={count['changed']} failed={count['failures']} "
            f"unreachable={count['dark']} skipped={count['skipped']} rescued={count['rescued']} "
            f"ignored={count['ignored']}"
        )
    return lines


def run_playbook(
    playbook: Path,
    inventory: Path,
    artifacts_dir: Path,
    *,
    extravars: Mapping[str, Any] | None = None,
    limit: str | None = None,
    verbose: int = 0,
    out: Out = say,
    project_dir: Path | None = None,
) -> RunResult:
    """Run ``playbook`` on ``inventory``; artifacts under ``artifacts_dir/ansible``. Never raises on a
    failed play: look at ``RunResult.ok``."""
    import ansible_runner  # imported here: it is slow to import and --help should stay fast

    playbook = playbook.resolve()
    if not playbook.is_file():
        raise ConfigError(f"the playbook {playbook} does not exist")
    if not inventory.is_file():
        raise ConfigError(f"the inventory {inventory} does not exist")
    data_dir = (artifacts_dir / "ansible").resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the artifacts directory {data_dir}: {exc.strerror}") from None
    ident = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
    bin_dir = str(Path(sys.executable).parent)
    envvars = {
        # ansible-runner would otherwise switch host key checking off; ours: the inventory's ssh args
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_FORCE_COLOR": "False",
        "ANSIBLE_NOCOLOR": "True",
        # find ansible-playbook of the venv we run in, even when the venv is not activated
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
    }
    kwargs: dict[str, Any] = {
        "private_data_dir": str(data_dir),
        "artifact_dir": str(data_dir),
        "ident": ident,
        "rotate_artifacts": KEEP_RUNS,
        "project_dir": str((project_dir or playbook.parent).resolve()),
        "playbook": str(playbook),
        "inventory": str(inventory.resolve()),
        "envvars": envvars,
        "event_handler": EventPrinter(out, verbose),
        "quiet": True,
        "verbosity": verbose if verbose > 1 else None,
    }
    if extravars:
        kwargs["extravars"] = dict(extravars)
    if limit:
        kwargs["limit"] = limit
    result = ansible_runner.run(**kwargs)
    stats: dict[str, dict[str, int]] = result.stats or {}
    failed = sorted(set((stats.get("failures") or {}).keys()) | set((stats.get("dark") or {}).keys()))
    return RunResult(
        status=str(result.status),
        rc=int(result.rc if result.rc is not None else 1),
        stats=stats,
        artifacts=data_dir / ident,
        failed_hosts=failed,
    )


def print_recap(result: RunResult, out: Out = say) -> None:
    """The per-host counts of a finished run and where its artifacts are."""
    out("RECAP")
    for line in recap(result.stats):
        out(line)
    out(f"  artifacts: {result.artifacts}")


def configure(
    playbook: Path,
    inventory: Path,
    artifacts_dir: Path,
    *,
    verbose: int = 0,
    out: Out = say,
    extravars: Mapping[str, Any] | None = None,
    vars_file: Path | None = None,
) -> RunResult:
    """Run the configuration with ``extravars`` and print the recap; raise ConfigureError when a host
    failed. ``vars_file`` holds the same variables, for the by-hand command of the error's hint."""
    out(f"Configuring with {playbook.name} (ansible-runner; artifacts in {artifacts_dir / 'ansible'})")
    result = run_playbook(
        playbook,
        inventory,
        artifacts_dir,
        verbose=verbose,
        out=out,
        extravars=extravars,
        project_dir=playbook.parent,
    )
    print_recap(result, out)
    if not result.ok:
        hosts = ", ".join(result.failed_hosts) or "?"
        raise ConfigureError(
            f"the configuration failed ({result.status}, rc={result.rc}) on: {hosts}",
            f"see {result.artifacts / 'stdout'}; fix and run again "
            "(finished tasks are skipped as unchanged), "
            f"or by hand: ansible-playbook -i {inventory} {playbook}"
            + (f" -e @{vars_file}" if vars_file else ""),
        )
    return result


def drain(
    playbook: Path,
    inventory: Path,
    artifacts_dir: Path,
    hosts: Sequence[str],
    *,
    project_dir: Path,
    verbose: int = 0,
    out: Out = say,
    extravars: Mapping[str, Any] | None = None,
) -> RunResult:
    """Run the drain playbook on ``hosts`` only (``--limit``; also the extra variable ``drain_hosts``,
    which wins over the same name in ``extravars``); raise ConfigureError when a host failed, so that
    nothing is removed before it was drained."""
    out(f"Draining {', '.join(hosts)} with {playbook.name} (artifacts in {artifacts_dir / 'ansible'})")
    result = run_playbook(
        playbook,
        inventory,
        artifacts_dir,
        extravars={**(extravars or {}), DRAIN_HOSTS_VAR: list(hosts)},
        limit=",".join(hosts),
        verbose=verbose,
        out=out,
        project_dir=project_dir,
    )
    print_recap(result, out)
    if not result.ok:
        failed = ", ".join(result.failed_hosts) or "?"
        raise ConfigureError(
            f"draining failed ({result.status}, rc={result.rc}) on: {failed}; no worker machine was removed",
            f"see {result.artifacts / 'stdout'}; fix it and run again. A worker machine that is stopped "
            "has nothing to drain and is removed without the playbook",
        )
    return result
