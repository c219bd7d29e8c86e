"""Real services for the app's integration tests and for bench/predict_bench.py: a RabbitMQ vhost of their
own, trained models, Celery worker and gunicorn processes. Every process is started in its own session
and stopped by its process-group id; nothing else is touched."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

REPO = Path(__file__).resolve().parents[3]
APP = REPO / "app"
HOOKS = Path(__file__).resolve().parent  # holds mlapp_testhooks (test-only, in no image)
DATA_CSV = REPO.parent / "shared" / "data" / "pima-indians-diabetes.csv"
DATA_SHA256 = "06f5b7c2cd7bca686fda4f92eab5f61e7ff6426a9acefa2e3dda04fc54293cf5"
ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]
PYTHON = sys.executable


def app_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "RABBITMQ_", "PREDICT_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(APP), str(HOOKS)])
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update(extra)
    return env


def make_config(broker_url: str, **overrides: object):
    """The web's settings for tests: the given broker, generous timeouts unless overridden."""
    from mlapp.config import Config

    values: dict = {
        "broker_url": broker_url,
        "predict_timeout": 20.0,
        "health_timeout": 2.0,
        "secret_key": "it",
    }
    values.update(overrides)
    return Config(**values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=60)


def ensure_rabbitmq() -> None:
    result = subprocess.run(
        [str(REPO / "scripts" / "ensure-rabbitmq.sh")], capture_output=True, text=True, timeout=180
    )
    if result.returncode != 0:
        raise RuntimeError(f"ensure-rabbitmq.sh failed: {result.stderr.strip()}")


@dataclass
class Vhost:
    """A vhost and a user with a random password on the local RabbitMQ, deleted by delete()."""

    name: str = field(default_factory=lambda: f"mlapp-test-{secrets.token_hex(4)}")
    user: str = ""
    # never starting with "-", which rabbitmqctl would read as an option
    password: str = field(default_factory=lambda: "p" + secrets.token_urlsafe(18), repr=False)

    def __post_init__(self) -> None:
        self.user = self.user or self.name

    @property
    def url(self) -> str:
        return (
            f"amqp://{quote(self.user, safe='')}:{quote(self.password, safe='')}@127.0.0.1:5672/{self.name}"
        )

    def create(self) -> Vhost:
        try:
            rabbitmqctl("add_vhost", self.name)
            rabbitmqctl("add_user", "--", self.user, self.password)
            rabbitmqctl("set_permissions", "-p", self.name, self.user, ".*", ".*", ".*")
        except BaseException:
            self.delete()
            raise
        return self

    def delete(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            rabbitmqctl("delete_user", self.user)
        with contextlib.suppress(subprocess.SubprocessError):
            rabbitmqctl("delete_vhost", self.name)


def train(out: Path, epochs: int, seed: int, wait: bool = True) -> subprocess.Popen:
    """Run the real training CLI into `out` (a subprocess, so TensorFlow stays out of the caller)."""
    proc = subprocess.Popen(
        [
            *(PYTHON, "-m", "mlapp.model.train", "--data", str(DATA_CSV), "--sha256", DATA_SHA256),
            *("--out", str(out), "--epochs", str(epochs), "--seed", str(seed)),
        ],
        env=app_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if wait:
        check_trained(proc)
    return proc


def check_trained(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"training failed ({proc.returncode}): {err.strip()[-2000:]}")


def copy_model(src: Path, dst: Path) -> None:
    """Copy model.keras + metadata.json, metadata first and the model last, each by an atomic rename."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("metadata.json", "model.keras"):
        tmp = dst / f".{name}.copy-{secrets.token_hex(3)}"
        shutil.copyfile(src / name, tmp)
        os.replace(tmp, dst / name)


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies, so a killed test run leaves no
    worker behind (Linux prctl PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@dataclass
class Process:
    """A subprocess in its own session; stop() ends its whole process group."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    @classmethod
    def start(cls, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> Process:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                argv,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return cls(name=name, proc=proc, log_path=log_path)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_for_log(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.log())
            if match:
                return match
            if not self.alive:
                break
            time.sleep(0.1)
        raise TimeoutError(f"{self.name}: {pattern!r} not in its log after {timeout}s:\n{self.log()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group (a worker dying abruptly)."""
        self._signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def stop(self, grace: float = 10.0) -> None:
        if self.alive:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=10)
        else:
            self._signal(signal.SIGKILL)  # leftovers of the group, if any

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)


def start_worker(
    broker_url: str,
    model_dir: Path,
    log_dir: Path,
    name: str | None = None,
    concurrency: int = 1,
    extra_env: dict[str, str] | None = None,
    ready_timeout: float = 120.0,
    machine_host: str | None = None,
    test_hooks: bool = False,
) -> tuple[Process, str]:
    """A real Celery worker; returns it and its node name once it answers pings.

    Without machine_host: `celery -A mlapp.worker.main worker -n <name>@mlapp-test`. With it: the worker
    image's command, `python -m mlapp.worker` with MACHINE_HOST=machine_host, which names the node
    <machine_host>@<this machine's hostname> by itself. test_hooks: the same on the app with the test hooks
    (mlapp_testhooks: MLAPP_TEST_TASK_DELAY/MLAPP_TEST_TASK_FAIL in extra_env, the reload-per-task task)."""
    name = name or machine_host or f"w{secrets.token_hex(3)}"
    settings = {
        "CELERY_BROKER_URL": broker_url,
        "MODEL_DIR": str(model_dir),
        "DATA_FILE": str(DATA_CSV),
        "WORKER_CONCURRENCY": str(concurrency),
    }
    env = app_env(**{**settings, **(extra_env or {})})
    if machine_host is None:
        node = f"{name}@mlapp-test"
        worker_app = "mlapp_testhooks.worker" if test_hooks else "mlapp.worker.main"
        argv = [PYTHON, "-m", "celery", "-A", worker_app, "worker", "-n", node]
    else:
        env["MACHINE_HOST"] = machine_host
        node = f"{machine_host}@{socket.gethostname()}"
        argv = [PYTHON, "-m", "mlapp_testhooks.run_worker" if test_hooks else "mlapp.worker"]
    argv += ["--loglevel", os.environ.get("MLAPP_TEST_LOGLEVEL", "INFO")]
    argv += ["--without-mingle", "--without-gossip"]
    worker = Process.start(node, argv, env, log_dir / f"worker-{name}.log")
    try:
        wait_for_ping(broker_url, node, ready_timeout, worker)
    except BaseException:
        worker.stop()
        raise
    return worker, node


def wait_for_ping(broker_url: str, node: str, timeout: float, process: Process | None = None) -> None:
    from mlapp.celery_app import make_celery
    from mlapp.config import Config

    celery = make_celery(Config(broker_url=broker_url), fail_fast=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if process is not None and not process.alive:
                raise RuntimeError(f"{node} exited ({process.proc.returncode}):\n{process.log()[-3000:]}")
            replies = celery.control.ping(destination=[node], timeout=0.5) or []
            if any(node in reply for reply in replies):
                return
        raise TimeoutError(f"{node} did not answer within {timeout}s")
    finally:
        celery.close()


def start_gunicorn(
    broker_url: str,
    log_dir: Path,
    extra_env: dict[str, str] | None = None,
    workers: int = 2,
    wsgi_app: str | None = None,
):
    """The web front under gunicorn with the repository's gunicorn.conf.py on a free loopback port;
    returns the process and its base URL once /livez answers. wsgi_app replaces the configuration's app
    (the benchmark: "mlapp_testhooks.web:create_app()")."""
    port = free_port()
    env = app_env(CELERY_BROKER_URL=broker_url, WEB_WORKERS=str(workers), **(extra_env or {}))
    argv = [
        PYTHON,
        "-m",
        "gunicorn",
        "--config",
        str(APP / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        *([wsgi_app] if wsgi_app else []),
    ]
    web = Process.start(f"gunicorn-{port}", argv, env, log_dir / f"gunicorn-{port}.log")
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/livez", timeout=2) as response:
                if response.status == 200:
                    return web, base
        except OSError:
            pass
        if not web.alive or time.monotonic() > deadline:
            web.stop()
            raise RuntimeError(f"gunicorn did not come up:\n{web.log()[-3000:]}")
        time.sleep(0.2)
