"""The containers: both image targets build from the local base image (no registry), the compose stack
comes up with two workers on 127.0.0.1 ports, answers /healthz, /status and a prediction, and is removed
again.
MACHINE_HOST names the workers' machine: node names MACHINE_HOST@<container id>, one per container.
Every container runs hardened (no capability, no new privileges, read-only root, memory and pids limits),
and a worker that turns unhealthy is restarted by the docker role's docker-autoheal. Secrets are files
(compose secrets) made as the role makes them: `docker inspect` shows none, each container holds only its
own, and the web and worker broker users may do no more than Celery needs."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import amqp
import pytest
from app_services import APP, DATA_CSV, REPO, ROW, copy_model, free_port

# Tags of this checkout's own: two checkouts on one Docker Engine never test each other's images.
_TAG = "it-" + hashlib.sha256(str(REPO).encode()).hexdigest()[:8]
WEB_IMAGE = f"mlstack/web:{_TAG}"
WORKER_IMAGE = f"mlstack/worker:{_TAG}"
RABBITMQ_IMAGE = f"mlstack/rabbitmq:{_TAG}"
MACHINE_HOST = "it-compose-host"
AUTOHEAL = REPO / "roles" / "docker" / "files" / "docker-autoheal"
# compose.yaml's defaults: (memory in bytes, pids)
LIMITS = {"rabbitmq": (1 << 30, 1024), "web": (1 << 30, 256), "worker": (2 << 30, 512)}
DEFINITIONS = REPO / "roles" / "model_serving" / "filter_plugins" / "rabbitmq_definitions.py"


def load_definitions_module():
    """The role's filter plugin that writes RabbitMQ's definitions file (users, hashes, permissions)."""
    spec = importlib.util.spec_from_file_location("rabbitmq_definitions", DEFINITIONS)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_secrets(directory: Path) -> dict[str, str]:
    """The secret files as the role writes them (root-owned, 0440, the reading container's group)."""
    values = {
        "rabbitmq_password": f"adm@:/{secrets.token_urlsafe(16)}",
        "rabbitmq_web_password": f"w@b:/{secrets.token_urlsafe(16)}",
        "rabbitmq_worker_password": f"w#rk:/{secrets.token_urlsafe(16)}",
        "flask_secret_key": secrets.token_hex(32),
    }
    definitions = load_definitions_module().rabbitmq_definitions(values, "mlstack", "web", "worker")
    directory.mkdir(mode=0o700)
    files = {
        "rabbitmq_definitions.json": (definitions, 999),
        "rabbitmq_web_password": (values["rabbitmq_web_password"] + "\n", 10001),
        "rabbitmq_worker_password": (values["rabbitmq_worker_password"] + "\n", 10001),
        "flask_secret_key": (values["flask_secret_key"] + "\n", 10001),
    }
    for name, (content, gid) in files.items():
        path = directory / name
        path.write_text(content, encoding="utf-8")
        os.chown(path, 0, gid)
        path.chmod(0o440)
    return values


def run(*argv: str, timeout: float = 1800, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def http(method: str, url: str, body: object | None = None, timeout: float = 30) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    run(str(REPO / "scripts" / "ensure-docker.sh"), timeout=120)
    base = run(str(REPO / "scripts" / "build-python-base.sh")).stdout.strip()
    for target, tag in (("web", WEB_IMAGE), ("worker", WORKER_IMAGE)):
        run("docker", "build", "--target", target, "--build-arg", f"BASE_IMAGE={base}", "-t", tag, str(APP))
    run(
        "docker", "build", "--build-arg", "BASE_IMAGE=mlstack/base:trixie", "-t", RABBITMQ_IMAGE,
        str(APP / "rabbitmq"),
    )  # fmt: skip
    return {"web": WEB_IMAGE, "worker": WORKER_IMAGE, "rabbitmq": RABBITMQ_IMAGE}


@pytest.fixture(scope="module")
def stack(images, mlapp_models):
    """`docker compose up -d --scale worker=2` under a unique project name; `down -v` at the end."""
    workdir = Path(tempfile.mkdtemp(prefix="mlapp-compose-"))
    model_dir = workdir / "model"
    copy_model(mlapp_models["a"].path, model_dir)
    workdir.chmod(0o755)
    for path in (model_dir, *model_dir.iterdir()):
        os.chown(path, 10001, 10001)  # the app's uid in the images: workers read, `train` writes
    web_port = free_port()
    secret_values = write_secrets(workdir / "secrets")
    ports = {"management": free_port(), "amqp": free_port()}
    env_file = workdir / "stack.env"
    env_file.write_text(
        "\n".join(
            [
                f"SECRETS_DIR={workdir / 'secrets'}",
                f"MODEL_DIR={model_dir}",
                f"DATA_FILE={DATA_CSV}",
                "WEB_BIND=127.0.0.1",
                f"WEB_PORT={web_port}",
                f"RABBITMQ_MANAGEMENT_PORT={ports['management']}",
                f"RABBITMQ_AMQP_PORT={ports['amqp']}",  # the host's own RabbitMQ holds 5672
                f"MACHINE_HOST={MACHINE_HOST}",
                f"RABBITMQ_IMAGE={images['rabbitmq']}",
                f"WEB_IMAGE={images['web']}",
                f"WORKER_IMAGE={images['worker']}",
                "PREDICT_TIMEOUT=15",
                "TRAIN_EPOCHS=2",
                "WORKER_HEALTHCHECK_INTERVAL=5s",  # unhealthy within a minute in the autoheal test
            ]
        )
        + "\n"
    )
    env_file.chmod(0o600)
    compose = ["docker", "compose", "-f", str(APP / "compose.yaml"), "--env-file", str(env_file)]
    compose += ["-p", f"mlapp-it-{secrets.token_hex(3)}"]
    try:
        run(*compose, "up", "-d", "--no-build", "--scale", "worker=2", timeout=600)
        yield compose, f"http://127.0.0.1:{web_port}", model_dir, secret_values, ports
    finally:
        logs = subprocess.run([*compose, "logs", "--no-color"], capture_output=True, text=True, timeout=120)
        (REPO / "artifacts" / "app").mkdir(parents=True, exist_ok=True)
        (REPO / "artifacts" / "app" / "compose.log").write_text(logs.stdout + logs.stderr)
        subprocess.run([*compose, "down", "-v", "--remove-orphans"], capture_output=True, timeout=300)
        shutil.rmtree(workdir, ignore_errors=True)


def wait_healthy(base: str, workers: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, body = http("GET", f"{base}/status", timeout=10)
            last = (status, body)
            if status == 200 and body["status"] == "ok" and len(body["workers"]) >= workers:
                return body
        except (OSError, ValueError) as exc:
            last = exc
        time.sleep(2)
    raise AssertionError(f"/status not ok with {workers} workers after {timeout}s: {last}")


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_compose_stack_serves_predictions(stack, mlapp_models):
    compose, base, *_ = stack
    health = wait_healthy(base, workers=2, timeout=300)
    assert health["broker"] == "ok"
    [nodes] = health["hosts"].values()
    assert list(health["hosts"]) == [MACHINE_HOST] and nodes == health["workers"]
    assert len(set(nodes)) == 2 and all(node.startswith(f"{MACHINE_HOST}@") for node in nodes)
    for index in ("1", "2"):  # each container's healthcheck pings its own node
        check = [*compose, "exec", "-T", "--index", index, "worker"]
        out = run(*check, "python", "-m", "mlapp.worker.healthcheck", "--timeout", "10").stdout
        assert f"{MACHINE_HOST}@" in out and "answered" in out

    status, body = http("POST", f"{base}/api/predict", {"rows": [ROW, ROW]})
    assert status == 200, body
    assert body["count"] == 2
    assert body["model"]["sha256"] == mlapp_models["a"].sha256
    assert body["host"] == MACHINE_HOST and body["worker"] in nodes
    status, body = http("POST", f"{base}/api/predict", [-1, *ROW[1:]])
    assert status == 400 and body["error"] == "invalid_input"
    with urllib.request.urlopen(f"{base}/predictions", timeout=30) as response:
        assert 'id="accuracy"' in response.read().decode()

    for service in ("web", "worker"):
        uid = run(*compose, "exec", "-T", service, "id", "-u").stdout.strip()
        assert uid == "10001"
    ps = run(*compose, "ps", "--format", "json").stdout
    services = [json.loads(line) for line in ps.splitlines() if line.strip()]
    assert sorted(s["Service"] for s in services) == ["rabbitmq", "web", "worker", "worker"]


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_training_service_replaces_the_model_under_running_workers(stack, mlapp_models):
    compose, base, model_dir, *_ = stack
    wait_healthy(base, workers=2, timeout=300)
    run(*compose, "--profile", "train", "run", "--rm", "train", timeout=600)
    new_sha = hashlib.sha256((model_dir / "model.keras").read_bytes()).hexdigest()
    assert new_sha != mlapp_models["a"].sha256
    for _ in range(4):  # whichever worker answers, it serves the new model
        status, body = http("POST", f"{base}/api/predict", ROW)
        assert status == 200, body
        assert body["model"]["sha256"] == new_sha
        assert body["model"]["epochs"] == 2


def container_ids(compose: list[str], service: str) -> list[str]:
    return run(*compose, "ps", "-q", service).stdout.split()


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_docker_inspect_shows_no_secret_and_each_container_holds_only_its_own(stack):
    compose, base, _, secret_values, _ = stack
    wait_healthy(base, workers=2, timeout=300)
    ids = {service: container_ids(compose, service) for service in ("rabbitmq", "web", "worker")}
    inspected = json.loads(run("docker", "inspect", *[i for group in ids.values() for i in group]).stdout)
    assert len(inspected) == 4
    for container in inspected:
        shown = json.dumps(
            [container["Config"].get("Env"), container["Config"].get("Cmd"), container.get("Args")]
        )
        for name, value in secret_values.items():
            assert value not in shown, f"{container['Name']}: {name} in its environment or command"
            assert quote(value, safe="") not in shown, f"{container['Name']}: {name} (URL-encoded) shown"
    held = {
        service: sorted(run("docker", "exec", ids[service][0], "ls", "/run/secrets").stdout.split())
        for service in ("web", "worker")
    }
    assert held == {
        "web": ["flask_secret_key", "rabbitmq_web_password"],
        "worker": ["rabbitmq_worker_password"],
    }


def management_status(port: int, user: str, password: str) -> int:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/whoami", headers={"Authorization": f"Basic {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def amqp_connection(port: int, user: str, password: str) -> amqp.Connection:
    connection = amqp.Connection(
        f"127.0.0.1:{port}", userid=user, password=password, virtual_host="/", connect_timeout=10
    )
    connection.connect()
    return connection


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_web_and_worker_broker_users_have_least_privilege(stack):
    _, base, _, secret_values, ports = stack
    wait_healthy(base, workers=2, timeout=300)
    users = {
        "mlstack": secret_values["rabbitmq_password"],
        "web": secret_values["rabbitmq_web_password"],
        "worker": secret_values["rabbitmq_worker_password"],
    }
    statuses = {user: management_status(ports["management"], user, pw) for user, pw in users.items()}
    statuses["guest"] = management_status(ports["management"], "guest", "guest")
    assert statuses == {"mlstack": 200, "web": 401, "worker": 401, "guest": 401}  # the administrator only
    for user in ("web", "worker"):
        connection = amqp_connection(ports["amqp"], user, users[user])
        try:
            with pytest.raises(amqp.exceptions.AccessRefused):  # no queue of another name
                connection.channel().queue_declare("not-a-celery-queue", durable=True, auto_delete=False)
            with pytest.raises(amqp.exceptions.AccessRefused):  # no exchange of another name
                connection.channel().exchange_declare("amq-like", "fanout", durable=True, auto_delete=False)
        finally:
            connection.collect()
    with pytest.raises(amqp.exceptions.AccessRefused):  # each user has its own password
        amqp_connection(ports["amqp"], "worker", users["web"])


@pytest.mark.docker
@pytest.mark.slow
def test_web_image_has_no_tensorflow(images):
    result = subprocess.run(
        ["docker", "run", "--rm", images["web"], "python", "-c", "import tensorflow"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "No module named 'tensorflow'" in result.stderr


def test_compose_refuses_to_start_without_secrets(tmp_path):
    if not shutil.which("docker"):
        pytest.fail("the docker CLI is missing")
    env_file = tmp_path / "empty.env"
    env_file.write_text("MODEL_DIR=/tmp\nDATA_FILE=/tmp/x.csv\n")
    result = subprocess.run(
        ["docker", "compose", "-f", str(APP / "compose.yaml"), "--env-file", str(env_file), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "FLASK_", "SECRETS_"))},
    )
    assert result.returncode != 0
    assert "set SECRETS_DIR" in result.stderr


def inspect(container: str) -> dict:
    return json.loads(run("docker", "inspect", container).stdout)[0]


def containers(compose: list[str], service: str) -> list[str]:
    ids = run(*compose, "ps", "--quiet", service).stdout.split()
    assert ids, f"no {service} container"
    return ids


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_every_container_runs_hardened(stack):
    compose, base, *_ = stack
    wait_healthy(base, workers=2, timeout=300)
    for service, (memory, pids) in LIMITS.items():
        for container in containers(compose, service):
            info = inspect(container)
            host = info["HostConfig"]
            where = f"{service} {container[:12]}"
            assert host["ReadonlyRootfs"] is True, where
            assert host["CapDrop"] == ["ALL"] and not host["CapAdd"], (where, host["CapDrop"], host["CapAdd"])
            assert "no-new-privileges:true" in (host["SecurityOpt"] or []), (where, host["SecurityOpt"])
            assert (host["Memory"], host["PidsLimit"]) == (memory, pids), where
            assert info["Config"]["User"] not in ("", "root", "0"), (where, info["Config"]["User"])
            # What the kernel enforces on the running process: no capability at all, no_new_privs set.
            status = run("docker", "exec", container, "cat", "/proc/1/status").stdout
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            assert fields["CapEff"].strip() == fields["CapPrm"].strip() == "0" * 16, (where, fields["CapEff"])
            assert fields["NoNewPrivs"].strip() == "1", where
            assert fields["Uid"].split()[0] != "0", where
            touch = subprocess.run(
                ["docker", "exec", container, "touch", "/opt/x"], capture_output=True, text=True, timeout=60
            )
            assert touch.returncode != 0 and "Read-only file system" in touch.stderr, (where, touch.stderr)
    # Hardened, it still serves.
    status, body = http("POST", f"{base}/api/predict", ROW)
    assert status == 200 and body["count"] == 1, body


def wait_health(container: str, wanted: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        info = inspect(container)
        health = info["State"].get("Health", {}).get("Status")
        if health == wanted:
            return info
        if time.monotonic() > deadline:
            raise AssertionError(f"{container[:12]} is {health}, not {wanted}, after {timeout}s")
        time.sleep(2)


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_an_unhealthy_worker_is_restarted_by_autoheal(stack):
    """A worker whose Celery process stops answering (SIGSTOP) turns unhealthy and stays so under Docker
    alone; docker-autoheal (as the docker role's timer runs it, limited to this test's project) restarts it
    and it serves again."""
    compose, base, *_ = stack
    wait_healthy(base, workers=2, timeout=300)
    project = compose[compose.index("-p") + 1]
    victim, other = containers(compose, "worker")[:2]
    started = inspect(victim)["State"]["StartedAt"]
    run("docker", "kill", "--signal", "SIGSTOP", victim)
    wait_health(victim, "unhealthy", timeout=180)
    time.sleep(12)  # Docker leaves it so: no restart of its own
    info = inspect(victim)
    assert info["State"]["Health"]["Status"] == "unhealthy" and info["State"]["StartedAt"] == started

    healed = run(str(AUTOHEAL), "--filter", f"label=com.docker.compose.project={project}", "--time", "5")
    assert f"restarted {info['Name'].lstrip('/')}" in healed.stdout, healed.stdout
    assert [victim[:12]] == [line.split("(")[1][:12] for line in healed.stdout.splitlines()], healed.stdout
    assert inspect(other)["State"]["Health"]["Status"] == "healthy"  # only the unhealthy one
    after = wait_health(victim, "healthy", timeout=240)
    assert after["State"]["StartedAt"] != started
    wait_healthy(base, workers=2, timeout=120)
    again = run(str(AUTOHEAL), "--filter", f"label=com.docker.compose.project={project}")
    assert again.stdout == "", again.stdout  # nothing left to heal
