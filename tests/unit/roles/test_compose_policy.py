"""The compose policy of pushes (roles/git_deploy/files/compose_policy.py, installed on prodserver and the
worker machines): the app's own compose.yaml passes; each way a compose file could take the host is refused.
Run for real: the module as installed, with the real `docker compose config` on files in a temporary
project directory."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
POLICY_FILE = REPO / "roles" / "git_deploy" / "files" / "compose_policy.py"
SERVICES = "rabbitmq,web,worker,train"
# The secret files the roles allow (mlstack-deploy, mlstack-worker-receive): compose secrets, read-only.
SECRET_FILES = (
    "rabbitmq_definitions.json",
    "rabbitmq_web_password",
    "rabbitmq_worker_password",
    "flask_secret_key",
)


def load_policy():
    spec = importlib.util.spec_from_file_location("compose_policy", POLICY_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["compose_policy"] = module
    spec.loader.exec_module(module)
    return module


policy = load_policy()
needs_compose = pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (compose)")


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """A project directory with the app's compose.yaml, a model directory, a data file and an env file."""
    project = tmp_path / "release"
    project.mkdir()
    shutil.copy(REPO / "app" / "compose.yaml", project / "compose.yaml")
    shared = tmp_path / "shared"
    (shared / "model").mkdir(parents=True)
    (shared / "data").mkdir()
    (shared / "data" / "dataset.csv").write_text("1,2\n", encoding="utf-8")
    (shared / "secrets").mkdir()
    for name in SECRET_FILES:
        (shared / "secrets" / name).write_text("s\n", encoding="utf-8")
    env = shared / "mlstack.env"
    env.write_text(
        f"SECRETS_DIR={shared / 'secrets'}\n"
        f"MODEL_DIR={shared / 'model'}\nDATA_FILE={shared / 'data' / 'dataset.csv'}\n",
        encoding="utf-8",
    )
    return {"project": project, "shared": shared, "env": env}


def run(layout: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    shared = layout["shared"]
    argv = [
        "--project-directory",
        str(layout["project"]),
        "--env-file",
        str(layout["env"]),
        "--project",
        "policy-test",
        "--allow",
        str(shared / "model"),
        "--allow",
        str(shared / "data"),
        "--allow",
        str(shared / "data" / "dataset.csv"),
        "--allow-write",
        str(shared / "model"),
        *[arg for name in SECRET_FILES for arg in ("--allow", str(shared / "secrets" / name))],
        "--services",
        SERVICES,
    ]
    rc = policy.main(argv)
    return rc, capsys.readouterr().out


def edit(layout: dict[str, Path], change) -> None:
    path = layout["project"] / "compose.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(yaml.safe_dump(document), encoding="utf-8")


@needs_compose
def test_the_apps_compose_file_is_allowed(layout, capsys):
    rc, out = run(layout, capsys)
    assert (rc, out.strip()) == (0, "compose.yaml: allowed")


def _web(change):
    return lambda document: change(document["services"]["web"])


def _mounted(section: str, name: str, file: str):
    """A secret or config of this host file, mounted into the web (compose drops unused ones)."""

    def change(document):
        document.setdefault(section, {})[name] = {"file": file}
        document["services"]["web"].setdefault(section, []).append(name)

    return change


REFUSED = {
    "privileged": (_web(lambda web: web.update(privileged=True)), "privileged is not allowed"),
    "bind-root": (_web(lambda web: web.update(volumes=["/:/host"])), "/ is not one of the paths"),
    "bind-below-model": (
        lambda d: d["services"]["worker"]["volumes"].append("${MODEL_DIR}/sub:/x:ro"),
        "/model/sub is not one of the paths",
    ),
    "data-rw": (
        lambda d: d["services"]["worker"]["volumes"][1].pop("read_only"),
        "must be mounted read-only",
    ),
    "cap_add": (_web(lambda web: web.update(cap_add=["SYS_ADMIN"])), "cap_add SYS_ADMIN is not allowed"),
    "network-host": (
        _web(lambda web: (web.pop("ports"), web.update(network_mode="host"))),
        "network_mode host",
    ),
    "pid-host": (_web(lambda web: web.update(pid="host")), "pid host is not allowed"),
    "ipc-host": (_web(lambda web: web.update(ipc="host")), "ipc host is not allowed"),
    "userns-host": (_web(lambda web: web.update(userns_mode="host")), "userns_mode host is not allowed"),
    "devices": (_web(lambda web: web.update(devices=["/dev/sda:/dev/sda"])), "devices is not allowed"),
    "security_opt": (
        _web(lambda web: web.update(security_opt=["apparmor=unconfined"])),
        "security_opt apparmor=unconfined is not allowed",
    ),
    "volumes_from": (_web(lambda web: web.update(volumes_from=["rabbitmq"])), "volumes_from is not allowed"),
    "volume-driver-opts": (
        lambda d: d["volumes"].update(
            {"rabbitmq-data": {"driver_opts": {"type": "none", "o": "bind", "device": "/"}}}
        ),
        "driver or driver_opts is not allowed",
    ),
    "new-service": (
        lambda d: d["services"].update(shell={"image": "debian"}),
        "service shell: not one of the stack's services",
    ),
    "env_file": (_web(lambda web: web.update(env_file=["/etc/shadow"])), "env_file is not allowed"),
    "include": (lambda d: d.update(include=["/etc/other.yaml"]), "top-level 'include': not allowed"),
    "cap_add-default": (_web(lambda web: web.update(cap_add=["CHOWN"])), "cap_add CHOWN is not allowed"),
    "secret-file-elsewhere": (
        _mounted("secrets", "shadow", "/etc/shadow"),
        "secrets shadow: /etc/shadow is not one of the paths",
    ),
    "secret-dir": (_mounted("secrets", "all", "${SECRETS_DIR}"), "/secrets is not one of the paths"),
    "config-file-elsewhere": (
        _mounted("configs", "keys", "/root/.ssh/id_ed25519"),
        "configs keys: /root/.ssh/id_ed25519 is not one of the paths",
    ),
}

# A push may not take the stack's hardening away (app/compose.yaml's x-hardening and limits).
_HARDENING_KEYS = {
    "no-cap_drop": ("cap_drop", "cap_drop [ALL] is required"),
    "no-no-new-privileges": ("security_opt", "security_opt no-new-privileges:true is required"),
    "no-read_only": ("read_only", "read_only: true is required"),
    "no-mem_limit": ("mem_limit", "a mem_limit is required"),
    "no-pids_limit": ("pids_limit", "a pids_limit is required"),
}
for _case, (_key, _message) in _HARDENING_KEYS.items():
    for _service in ("rabbitmq", "worker"):
        REFUSED[f"{_case}-{_service}"] = (
            lambda d, key=_key, service=_service: d["services"][service].pop(key),
            f"service {_service}: {_message}",
        )
REFUSED["cap_drop-some"] = (
    _web(lambda web: web.update(cap_drop=["NET_RAW"])),
    "service web: cap_drop [ALL] is required",
)
REFUSED["read_only-false"] = (
    _web(lambda web: web.update(read_only=False)),
    "service web: read_only: true is required",
)


@needs_compose
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_compose_file_that_could_take_the_host_is_refused(layout, capsys, case):
    change, message = REFUSED[case]
    edit(layout, change)
    rc, out = run(layout, capsys)
    assert rc == 1, out
    assert "compose.yaml refused:" in out and message in out, out


@needs_compose
def test_an_override_file_next_to_it_is_refused(layout, capsys):
    (layout["project"] / "compose.override.yaml").write_text("services: {}\n", encoding="utf-8")
    rc, out = run(layout, capsys)
    assert rc == 1 and "compose.override.yaml: not allowed" in out, out


@needs_compose
def test_a_symlinked_allowed_path_is_refused(layout, capsys):
    data = layout["shared"] / "data" / "dataset.csv"
    data.unlink()
    data.symlink_to("/etc/hostname")
    rc, out = run(layout, capsys)
    assert rc == 1 and "goes through a symbolic link" in out, out


HARDENED = {
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
    "read_only": True,
    "mem_limit": "536870912",
    "pids_limit": 256,
}


def test_a_hardened_service_passes():
    assert policy.check_resolved({"services": {"web": dict(HARDENED)}}, []) == []


def test_no_capability_may_be_added_back():
    config = {"services": {"web": {**HARDENED, "cap_add": ["CHOWN", "CAP_SETUID"]}}}
    assert policy.check_resolved(config, []) == [
        "service web: cap_add CHOWN is not allowed (the services run with no capability)",
        "service web: cap_add CAP_SETUID is not allowed (the services run with no capability)",
    ]


def test_no_new_privileges_is_the_allowed_security_option():
    config = {
        "services": {"web": {**HARDENED, "security_opt": ["no-new-privileges=true", "seccomp=unconfined"]}}
    }
    assert policy.check_resolved(config, []) == [
        "service web: security_opt seccomp=unconfined is not allowed (only no-new-privileges)"
    ]


def test_a_service_without_any_hardening_is_refused_for_each_part():
    problems = policy.check_resolved({"services": {"web": {"image": "x"}}}, [])
    assert problems == [
        "service web: cap_drop [ALL] is required",
        "service web: security_opt no-new-privileges:true is required",
        "service web: read_only: true is required (a read-only root filesystem)",
        "service web: a mem_limit is required",
        "service web: a pids_limit is required",
    ]


def test_a_yaml_error_is_named(layout, capsys):
    (layout["project"] / "compose.yaml").write_text("services: [\n", encoding="utf-8")
    rc, out = run(layout, capsys)
    assert rc == 2 and out.startswith("compose.yaml: cannot read compose.yaml"), out
