"""The whole stack on local machines, driven the way a user drives it: start_instances.py, then
ansible-playbook configuration.yml by hand, then --destroy. Everything goes to 127.0.0.1 only.

The work directory (logs, inventory, state, screenshots) is under artifacts/e2e/<prefix>/ and kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provisioner import keys
from provisioner.settings import REPO_ROOT

DATA_FILE = (REPO_ROOT / ".." / "shared" / "data" / "pima-indians-diabetes.csv").resolve()
KNOWN_ROW = {  # the first row of the data set (outcome 1)
    "Pregnancies": 6,
    "Glucose": 148,
    "BloodPressure": 72,
    "SkinThickness": 35,
    "Insulin": 0,
    "BMI": 33.6,
    "DiabetesPedigreeFunction": 0.627,
    "Age": 50,
}
RECAP = re.compile(
    r"^\s*(?P<host>\S+)\s*:?\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+.*?failed=(?P<failed>\d+)"
)
PLAYBOOK_RECAP = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)\s+"
    r"failed=(?P<failed>\d+)"
)


@dataclass
class Run:
    """A finished command: its exit code, output and the per-host recap it printed."""

    argv: list[str]
    rc: int
    output: str
    seconds: float
    recap: dict[str, dict[str, int]] = field(default_factory=dict)

    def changed(self) -> dict[str, int]:
        return {host: counts["changed"] for host, counts in self.recap.items()}

    def explain(self) -> str:
        tail = "\n".join(self.output.splitlines()[-60:])
        return f"{shlex.join(self.argv)} -> rc={self.rc}\n{tail}"


def parse_recap(output: str, pattern: re.Pattern[str]) -> dict[str, dict[str, int]]:
    """Per-host counts from the recap lines of the launcher or of ansible-playbook."""
    found: dict[str, dict[str, int]] = {}
    for line in output.splitlines():
        match = pattern.match(line)
        if match:
            values = match.groupdict()
            host = values.pop("host")
            found[host] = {k: int(v) for k, v in values.items()}
    return found


@dataclass
class Stack:
    """A prefix's machines, and how to reach and reconfigure them."""

    prefix: str
    workdir: Path
    vars_file: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MLSTACK_PROVIDER": "local",
            "MLSTACK_PREFIX": self.prefix,
            "MLSTACK_STATE_DIR": str(self.workdir / "state"),
            "MLSTACK_INVENTORY_DIR": str(self.workdir / "inventory"),
            "MLSTACK_ARTIFACTS_DIR": str(self.workdir / "artifacts"),
            "MLSTACK_PUBLIC_KEY": str(self.workdir / "ssh" / "id_ed25519.pub"),
            "MLSTACK_PRIVATE_KEY": str(self.workdir / "ssh" / "id_ed25519"),
            "MLSTACK_LOCAL_SSH_PORT_BASE": "0",
            "MLSTACK_LOCAL_APP_PORT": "0",
            "ANSIBLE_FORCE_COLOR": "0",
            "PY_COLORS": "0",
        }

    @property
    def inventory(self) -> Path:
        return self.workdir / "inventory" / "hosts.yml"

    @property
    def extra_vars_file(self) -> Path:
        """What the launcher passed to its last configuration run (offline overrides + ours)."""
        return self.workdir / "state" / f"extra-vars-{self.prefix}.yml"

    @classmethod
    def create(cls, prefix: str, workdir: Path, variables: dict[str, Any]) -> Stack:
        workdir.mkdir(parents=True, exist_ok=True)
        keys.generate(workdir / "ssh")
        vars_file = workdir / "test-vars.yml"
        vars_file.write_text(yaml.safe_dump(variables, sort_keys=True), encoding="utf-8")
        return cls(prefix=prefix, workdir=workdir, vars_file=vars_file)

    def _run(self, argv: list[str], log_name: str, timeout: float, env: dict[str, str] | None = None) -> Run:
        log = self.workdir / f"{log_name}.log"
        started = time.monotonic()
        with log.open("w", encoding="utf-8") as sink:
            result = subprocess.run(
                argv,
                cwd=REPO_ROOT,
                env=env or self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                check=False,
            )
            sink.write(result.stdout)
        return Run(argv, result.returncode, result.stdout, time.monotonic() - started)

    def launcher(self, *args: str, log_name: str, timeout: float = 3600) -> Run:
        """``python start_instances.py ARGS`` with this stack's environment."""
        run = self._run([sys.executable, "start_instances.py", *args], log_name, timeout)
        run.recap = parse_recap(run.output, RECAP)
        return run

    def up(self, log_name: str, *args: str) -> Run:
        """``start_instances.py`` the way a user brings the stack up offline (plus ``args``)."""
        return self.launcher(
            "--offline",
            "--dataset-file",
            str(DATA_FILE),
            "-e",
            f"@{self.vars_file}",
            *args,
            log_name=log_name,
        )

    def make_up(self, log_name: str, timeout: float = 3600) -> Run:
        """``make up`` exactly as the quickstart has it: no flags. This stack's settings come from the
        environment (prefix, directories, key, the test's extra variables) and, as the launcher asks for
        on a network where the data set's address does not answer, a local copy of the data set."""
        env = {
            **self.env,
            "MLSTACK_EXTRA_VARS": str(self.vars_file),
            "MLSTACK_DATASET_FILE": str(DATA_FILE),
        }
        env.pop("MLSTACK_OFFLINE", None)
        run = self._run(["make", "up"], log_name, timeout, env)
        run.recap = parse_recap(run.output, RECAP)
        return run

    def playbook(self, log_name: str, *args: str, timeout: float = 3600) -> Run:
        """``ansible-playbook configuration.yml`` by hand, with the launcher's inventory and variables
        (plus ``args``, e.g. ``--limit prodserver``)."""
        argv = [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            str(self.inventory),
            "-e",
            f"@{self.extra_vars_file}",
            *args,
            "configuration.yml",
        ]
        run = self._run(argv, log_name, timeout)
        run.recap = parse_recap(run.output, PLAYBOOK_RECAP)
        return run

    def hosts(self, group: str) -> dict[str, dict[str, Any]]:
        """The inventory's hosts of ``group`` (name -> variables), in the inventory's order."""
        inventory = yaml.safe_load(self.inventory.read_text(encoding="utf-8"))
        return inventory["all"]["children"][group].get("hosts") or {}

    def hostvars(self, group: str, host: str | None = None) -> dict[str, Any]:
        """The variables of ``host`` (default: the first host of ``group``)."""
        hosts = self.hosts(group)
        return hosts[host] if host is not None else next(iter(hosts.values()))

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.hostvars('prodserver')['app_port']}"

    def ssh_argv(self, group: str, name: str | None = None) -> list[str]:
        """``ssh`` to the machine of ``group`` (or its host ``name``) as appuser, checking its host key
        (add the command)."""
        host = self.hostvars(group, name)
        return [
            "ssh",
            "-p",
            str(host["ansible_port"]),
            "-i",
            str(host["ansible_ssh_private_key_file"]),
            "-o",
            "BatchMode=yes",
            "-o",
            f"UserKnownHostsFile={self.workdir / 'state' / 'known_hosts'}",
            "-o",
            "StrictHostKeyChecking=yes",
            f"{host['ansible_user']}@{host['ansible_host']}",
        ]

    def ssh(
        self, group: str, command: str, timeout: float = 300, check: bool = True, name: str | None = None
    ) -> str:
        """Run ``command`` on the machine of ``group`` (or its host ``name``) as appuser (sudo inside when
        needed)."""
        argv = [*self.ssh_argv(group, name), command]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{command!r} on {group} failed ({result.returncode}): {result.stderr}")
        return result.stdout

    def leftovers(self) -> list[str]:
        """Containers, volumes and networks whose name carries the prefix."""
        found = []
        for kind, fmt in (("container", "{{.Names}}"), ("volume", "{{.Name}}"), ("network", "{{.Name}}")):
            listing = ["docker", kind, "ls", "--format", fmt]
            if kind == "container":
                listing.insert(3, "--all")
            names = subprocess.run(listing, capture_output=True, text=True, check=True).stdout.split()
            found += [f"{kind} {n}" for n in names if n.startswith(f"{self.prefix}-")]
        return found


@contextlib.contextmanager
def module_stack(kind: str, short: str, variables: dict[str, Any]) -> Iterator[Stack]:
    """A stack of its own for a test module (prefix ``<short>-<random>``, work directory
    artifacts/<kind>/<prefix>/, secrets in it), removed with ``--destroy`` when the block ends, even on a
    failure; the work directory (logs, inventory, state) is kept and its path printed."""
    import pytest

    from tests.machines_fixtures import ensure_docker

    if not DATA_FILE.is_file():
        pytest.fail(f"the data set {DATA_FILE} is missing", pytrace=False)
    ensure_docker()
    prefix = f"{short}-{uuid.uuid4().hex[:8]}"
    workdir = REPO_ROOT / "artifacts" / kind / prefix
    stack = Stack.create(
        prefix, workdir, {**variables, "model_serving_secrets_dir": str(workdir / "secrets")}
    )
    print(f"\n{kind}: logs, inventory and state in {workdir}")
    try:
        yield stack
    finally:
        down = stack.launcher("--destroy", log_name="destroy-finally", timeout=600)
        leftovers = stack.leftovers() or "none"
        print(f"{kind}: --destroy rc={down.rc}, leftovers: {leftovers}; logs kept in {workdir}")


def http_json(url: str, payload: Any = None, timeout: float = 30) -> tuple[int, Any]:
    """GET (or POST ``payload`` as JSON) and return the status and the decoded body."""
    data = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, body.decode(errors="replace")


def wait_healthy(url: str, timeout: float = 300) -> dict[str, Any]:
    """Poll /healthz until it answers 200; return the details of /status (broker, workers, hosts)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            status, last = http_json(f"{url}/healthz", timeout=10)
            if status == 200:
                status, last = http_json(f"{url}/status", timeout=10)
                if status == 200 and last["status"] == "ok":
                    return last
        except OSError as exc:
            last = str(exc)
        time.sleep(3)
    raise AssertionError(f"{url}/healthz did not answer 200 within {timeout:.0f}s: {last}")


@dataclass(frozen=True)
class Shell:
    """A command's exit code and its output (stdout and stderr together, as a person sees them)."""

    rc: int
    output: str
    seconds: float


def run_on(stack: Stack, group: str, command: str, timeout: float = 900) -> Shell:
    """Run ``command`` with bash on the machine of ``group`` as appuser, over SSH; never raises."""
    argv = [
        *stack.ssh_argv(group),
        f"bash -c {shlex.quote('set -euo pipefail; ' + command)} 2>&1",
    ]
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    return Shell(result.returncode, result.stdout + result.stderr, time.monotonic() - started)
