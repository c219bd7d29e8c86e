"""Run configuration.yml with ansible-playbook the way a person does (from the repository root, with its
ansible.cfg) and read the PLAY RECAP."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK = REPO / "configuration.yml"
APT_CACHE_TASKS = REPO / "playbooks" / "tasks" / "apt-cache.yml"
ARTIFACTS = REPO / "artifacts" / "roles-tests"
RECAP_LINE = re.compile(r"^(?P<host>\S+)\s+:\s+(?P<counts>(?:\w+=\d+\s*)+)$")


@dataclass(frozen=True)
class Run:
    """One ansible-playbook run: exit code, per-host counts from the recap, its output, how long it took."""

    rc: int
    recap: dict[str, dict[str, int]]
    output: str
    seconds: float

    def changed(self, host: str) -> int:
        return self.recap[host]["changed"]

    def total(self, key: str) -> int:
        return sum(counts[key] for counts in self.recap.values())

    def explain(self) -> str:
        """The end of the output, for assertion messages."""
        return f"rc={self.rc} recap={self.recap}\n" + "\n".join(self.output.splitlines()[-80:])

    def changed_tasks(self) -> list[str]:
        """'TASK [...]' headers followed by a 'changed:' line (what a supposedly idle run changed)."""
        tasks, current = [], ""
        for line in self.output.splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                current = line.rstrip(" *")
            elif line.startswith("changed:") and current and (not tasks or tasks[-1] != current):
                tasks.append(current)
        return tasks


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    recap: dict[str, dict[str, int]] = {}
    in_recap = False
    for line in output.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        if in_recap:
            match = RECAP_LINE.match(line.strip())
            if not match:
                if line.strip():
                    in_recap = False
                continue
            counts = dict(pair.split("=") for pair in match["counts"].split())
            recap[match["host"]] = {key: int(value) for key, value in counts.items()}
    return recap


def run_configuration(
    inventory: Path,
    vars_file: Path,
    *extra_args: str,
    log: Path | None = None,
    timeout: float = 3600,
    playbook: Path = PLAYBOOK,
) -> Run:
    """ansible-playbook PLAYBOOK (configuration.yml) -i INVENTORY -e @VARS_FILE [extra_args]; never raises."""
    env = dict(os.environ)
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    argv = ["ansible-playbook", "-i", str(inventory), str(playbook), "-e", f"@{vars_file}", *extra_args]
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as scratch:
        handle = log.open("a+", encoding="utf-8") if log is not None else scratch
        with handle:
            if log is not None:
                handle.write(f"\n===== {' '.join(argv)}\n")
                handle.flush()
            start = handle.tell()
            started = time.monotonic()
            # Straight into the file, so a long run can be followed with `tail -f`.
            result = subprocess.run(
                argv, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
            seconds = time.monotonic() - started
            handle.seek(start)
            output = handle.read()
            handle.seek(0, os.SEEK_END)
            handle.write(f"===== {seconds:.1f} s, rc={result.returncode}\n")
    return Run(rc=result.returncode, recap=parse_recap(output), output=output, seconds=seconds)


def docker_role_playbook(name: str) -> str:
    """A play named ``name`` that runs the docker role on prodserver as playbooks/prodserver.yml does (the
    apt cache refreshed first)."""
    return textwrap.dedent(
        f"""\
        ---
        - name: {name}
          hosts: prodserver
          become: true
          pre_tasks:
            - name: Refresh the apt cache when it is older than its validity
              ansible.builtin.import_tasks: {APT_CACHE_TASKS}
          roles:
            - role: docker
        """
    )


def keep_log(log: Path, name: str) -> None:
    """Copy an ansible log to artifacts/roles-tests/<name>-<time>.log (git-ignored), for reading after the
    test's temporary directory is gone."""
    if log.exists():
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, ARTIFACTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.log")
