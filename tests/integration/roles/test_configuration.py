"""configuration.yml on local machines: converges, changes nothing the second time, serves through the
published port behind the firewall, leaves devserver ready to train, and heals each kind of drift."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import yaml

from tests.integration.roles.conftest import Configured

pytestmark = [pytest.mark.docker, pytest.mark.machines, pytest.mark.slow]

ROOT = "/opt/mlstack"
ENV_FILE = f"{ROOT}/shared/mlstack.env"
COMPOSE = f"cd {ROOT}/current && docker compose --env-file {ENV_FILE} -p mlstack"


def get(url: str, timeout: float = 15, accept: str = "*/*") -> tuple[int, str]:
    try:
        request = urllib.request.Request(url, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:  # refused, reset, closed without an answer: no HTTP status at all
        return 0, repr(exc)


def prod(configured: Configured, script: str) -> str:
    """Run ``script`` as root on prodserver; fail the test when it fails."""
    result = configured.machines.docker_exec("prodserver", "bash", "-euo", "pipefail", "-c", script)
    assert result.returncode == 0, f"{script}: {result.stdout}{result.stderr}"
    return result.stdout


def healthz(configured: Configured) -> tuple[int, str]:
    app_port = configured.machines["prodserver"].app_port
    return get(f"http://127.0.0.1:{app_port}/healthz")


def heal(configured: Configured) -> None:
    """Re-run the configuration on prodserver: it must succeed, and change something."""
    run = configured.run("--limit", "prodserver")
    assert run.rc == 0 and run.total("failed") == 0, run.explain()
    assert run.changed("prodserver") > 0, "the drift went unnoticed:\n" + run.explain()


# --- converge and idempotence --------------------------------------------------------------------------


def test_first_run_configures_both_servers(configured: Configured):
    assert set(configured.first.recap) >= {"prodserver", "devserver"}
    assert configured.first.changed("prodserver") > 0
    assert configured.first.changed("devserver") > 0


def test_second_run_changes_nothing(configured: Configured):
    second = configured.second
    assert second.rc == 0, second.explain()
    changed = {host: counts["changed"] for host, counts in second.recap.items()}
    assert all(count == 0 for count in changed.values()), (
        f"changed on the second run: {changed}; tasks: {second.changed_tasks()}"
    )


def test_secrets_are_generated_once_and_never_printed(configured: Configured):
    secrets_file = configured.secrets_dir / "prodserver.yml"
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    secrets = yaml.safe_load(secrets_file.read_text())
    assert len(secrets["rabbitmq_password"]) >= 16 and len(secrets["flask_secret_key"]) >= 32
    assert len(set(secrets.values())) == 4  # administrator, web, worker, Flask
    log = configured.log.read_text()
    for value in secrets.values():
        assert value not in log
    env = prod(configured, f"stat -c '%a %U' {ENV_FILE} && cat {ENV_FILE}")
    assert env.startswith("600 root")
    for value in secrets.values():  # the env file holds no secret: they are files
        assert value not in env
    files = prod(configured, f"stat -c '%n %a %U %g' {ROOT}/shared/secrets {ROOT}/shared/secrets/*")
    assert files.split("\n")[0] == f"{ROOT}/shared/secrets 700 root 0"
    modes = dict(line.split(" ", 1) for line in files.strip().splitlines()[1:])
    assert modes == {
        f"{ROOT}/shared/secrets/flask_secret_key": "440 root 10001",
        f"{ROOT}/shared/secrets/rabbitmq_definitions.json": "440 root 999",
        f"{ROOT}/shared/secrets/rabbitmq_web_password": "440 root 10001",
        f"{ROOT}/shared/secrets/rabbitmq_worker_password": "440 root 10001",
    }
    assert secrets["rabbitmq_password"] not in prod(configured, f"cat {ROOT}/shared/secrets/*")


# --- prodserver ----------------------------------------------------------------------------------------


def test_docker_is_active_and_the_containers_are_healthy(configured: Configured):
    assert prod(configured, "systemctl is-active docker").strip() == "active"
    lines = prod(configured, f"{COMPOSE} ps --all --format json").splitlines()
    states = [json.loads(line) for line in lines if line.strip()]
    by_service = {c["Service"]: c for c in states}
    assert set(by_service) == {"rabbitmq", "web", "worker"}
    for container in states:
        assert container["State"] == "running" and container["Health"] == "healthy", container


def test_healthz_answers_through_the_published_port(configured: Configured):
    status, body = healthz(configured)
    assert status == 200, body
    assert json.loads(body) == {"status": "ok"}
    app_port = configured.machines["prodserver"].app_port
    status, body = get(f"http://127.0.0.1:{app_port}/status", accept="application/json")
    details = json.loads(body)
    assert details["status"] == "ok" and len(details["workers"]) >= 1
    status, page = get(f"http://127.0.0.1:{app_port}/predictions", timeout=60)
    assert status == 200 and "accuracy" in page.lower()


def test_the_first_model_was_trained_from_the_data_set(configured: Configured):
    metadata = json.loads(prod(configured, f"cat {ROOT}/shared/model/metadata.json"))
    assert metadata["data_sha256"] == "06f5b7c2cd7bca686fda4f92eab5f61e7ff6426a9acefa2e3dda04fc54293cf5"
    assert metadata["epochs"] == 5
    assert prod(configured, f"readlink {ROOT}/current").strip().startswith("releases/")


def test_sshd_refuses_passwords_and_root(configured: Configured):
    for role in ("prodserver", "devserver"):
        result = configured.machines.docker_exec(role, "sshd", "-T")
        assert result.returncode == 0, result.stderr
        options = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
        assert options["passwordauthentication"] == "no"
        assert options["permitrootlogin"] == "no"
        assert options["kbdinteractiveauthentication"] == "no"


@pytest.fixture
def listener_on_9999(configured: Configured) -> Iterator[None]:
    """A TCP listener on prodserver:9999, a port the firewall does not open; stopped afterwards."""
    server = "echo $$ > /run/fwtest.pid; exec python3 -m http.server 9999"
    prod(configured, f"nohup sh -c '{server}' >/dev/null 2>&1 &")
    prod(configured, "for i in $(seq 50); do ss -ltn | grep -q ':9999 ' && exit 0; sleep 0.2; done; exit 1")
    yield
    prod(configured, "kill $(cat /run/fwtest.pid) && rm -f /run/fwtest.pid")


def connects(configured: Configured, port: int) -> bool:
    probe = (
        "import socket,sys\n"
        f"try: socket.create_connection(('prodserver', {port}), timeout=3).close()\n"
        "except OSError: sys.exit(1)\n"
    )
    return configured.machines.docker_exec("devserver", "python3", "-c", probe).returncode == 0


def test_firewall_opens_only_ssh_and_the_app_port(configured: Configured, listener_on_9999: None):
    local_probe = "import socket; socket.create_connection(('127.0.0.1', 9999), 3)"
    prod(configured, f'python3 -c "{local_probe}"')  # it listens: only the firewall keeps devserver out
    assert connects(configured, 22)
    assert connects(configured, 5100)
    assert not connects(configured, 9999)
    assert "policy drop" in prod(configured, "nft list table inet mlstack")


# --- devserver -----------------------------------------------------------------------------------------


def test_devserver_venv_imports_tensorflow_and_trains(configured: Configured):
    machines = configured.machines
    result = machines.ssh(
        "devserver", "~/mlstack/venv/bin/python -c 'import tensorflow as tf, mlapp; print(tf.__version__)'"
    )
    assert result.returncode == 0 and result.stdout.strip() == "2.20.0", result.stderr
    result = machines.ssh("devserver", "~/mlstack/train.sh --epochs 1 && cat ~/mlstack/model/metadata.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout[result.stdout.index("{") :])["epochs"] == 1
    result = machines.ssh("devserver", "test -s ~/mlstack/model/model.keras && cat ~/.config/pip/pip.conf")
    assert result.returncode == 0 and "cert = /etc/ssl/certs/ca-certificates.crt" in result.stdout


# --- drills: each kind of drift is healed by a re-run ----------------------------------------------------


def test_heals_stopped_and_removed_containers(configured: Configured):
    prod(configured, "docker stop mlstack-web-1 && docker rm -f mlstack-worker-1")
    assert healthz(configured)[0] != 200
    heal(configured)
    assert healthz(configured)[0] == 200
    running = prod(configured, f"{COMPOSE} ps --status running --services").split()
    assert sorted(running) == ["rabbitmq", "web", "worker"]


def test_heals_a_deleted_and_an_edited_release_file(configured: Configured):
    files = ["mlapp/web/api.py", "Dockerfile"]
    before = prod(configured, f"cd {ROOT}/current && sha256sum {' '.join(files)}")
    prod(configured, f"cd {ROOT}/current && rm mlapp/web/api.py && echo '# drift' >> Dockerfile")
    heal(configured)
    assert prod(configured, f"cd {ROOT}/current && sha256sum {' '.join(files)}") == before


def test_heals_an_edited_env_file(configured: Configured):
    before = prod(configured, f"sha256sum {ENV_FILE}")
    prod(configured, f"sed -i 's/^WORKER_CONCURRENCY=.*/WORKER_CONCURRENCY=7/' {ENV_FILE}")
    heal(configured)
    assert prod(configured, f"sha256sum {ENV_FILE}") == before
    assert healthz(configured)[0] == 200


def test_heals_a_stopped_docker_service(configured: Configured):
    prod(configured, "systemctl stop docker.socket docker")
    heal(configured)
    assert prod(configured, "systemctl is-active docker").strip() == "active"
    assert healthz(configured)[0] == 200


def test_heals_a_removed_package(configured: Configured):
    prod(configured, "DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq docker-compose >/dev/null")
    assert configured.machines.docker_exec("prodserver", "docker", "compose", "version").returncode != 0
    heal(configured)
    assert "Docker Compose" in prod(configured, "docker compose version")
    assert healthz(configured)[0] == 200
