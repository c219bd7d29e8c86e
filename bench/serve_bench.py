"""The whole stack's figures on local machines, in one table (figures to read, never asserted):

  cold      (--cold) the host's caches removed first (machine image, base images, image archives), then
            `start_instances.py --offline` from nothing: every image is built; then `--destroy`
  warm      `start_instances.py --offline` from nothing with the host's caches: fresh machines, the app's
            images built inside prodserver, the first model trained
  no-op     the same command again on the healthy stack
  heal      prodserver's app containers stopped and removed, then `ansible-playbook configuration.yml`
  scale     predictions/s and p50 latency through the stack's own /api/predict (gunicorn -> RabbitMQ ->
            Celery) with 0, 1 and 2 worker machines (`--workers N`; prodserver keeps one worker)
  serving   bench/predict_bench.py: 1 and 2 worker processes, model loaded once vs the original lab's
            reload-per-task pattern (host processes, no machines)
  images    sizes of the web and worker images built inside prodserver

    .venv/bin/python bench/serve_bench.py [--cold] [--duration 10] [--concurrency 4] [--no-scale]

Traffic goes to 127.0.0.1 only; every load phase is bounded by its duration. The machines use the prefix
sb-<random> and are removed at the end, even on failure; logs stay in artifacts/bench/<prefix>/.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import platform
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.e2e.stack import DATA_FILE, Run, Stack, http_json, wait_healthy  # noqa: E402
from tests.machines_fixtures import ensure_docker  # noqa: E402

ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]
# Built on the host by the launcher's offline mode and machine-image/ (removed by --cold).
HOST_IMAGES = (
    "mlstack/machine:trixie",
    "mlstack/rabbitmq:local",
    "mlstack/python:trixie",
    "mlstack/base:trixie",
)
VARIABLES = {"model_serving_train_epochs": 20, "model_serving_workers": 1}


@dataclass
class Table:
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, measure: str, value: str, note: str = "") -> None:
        self.rows.append((measure, value, note))
        print(f"  {measure}: {value}  {note}", flush=True)

    def markdown(self) -> str:
        lines = ["| measure | value | notes |", "|---|---|---|"]
        lines += [f"| {m} | {v} | {n} |" for m, v, n in self.rows]
        return "\n".join(lines)


def machine() -> str:
    cores = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    memory = ""
    for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
        if line.startswith("MemTotal:"):
            memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    docker = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return f"{platform.node()}: {cores} cores, {memory}, {platform.platform()}, Docker Engine {docker}"


def forget_host_caches() -> str:
    removed = []
    for image in HOST_IMAGES:
        if subprocess.run(["docker", "image", "rm", image], capture_output=True, check=False).returncode == 0:
            removed.append(image)
    archives = list((REPO_ROOT / ".cache" / "images").glob("*.tar"))
    for archive in archives:
        archive.unlink()
    return f"removed {len(removed)} images and {len(archives)} archives"


def changed(run: Run) -> str:
    return ", ".join(f"{host} {counts['changed']}" for host, counts in sorted(run.recap.items()))


def timed_up(stack: Stack, table: Table, measure: str, log: str, *args: str) -> Run:
    run = stack.up(log, *args)
    if run.rc != 0:
        raise SystemExit(f"{measure}: start_instances.py failed (rc={run.rc}); see {stack.workdir / log}.log")
    wait_healthy(stack.app_url, timeout=300)
    table.add(measure, f"{run.seconds:.0f} s", f"changed: {changed(run)}")
    return run


def load(url: str, concurrency: int, duration: float) -> tuple[float, float, int, int]:
    """Predictions/s, p50 ms, answered, errors: ``concurrency`` clients for ``duration`` seconds."""
    deadline = time.monotonic() + duration
    latencies: list[float] = []
    errors = 0

    def client(_: int) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                status, _ = http_json(f"{url}/api/predict", ROW, timeout=60)
            except OSError:
                status = 0
            if status == 200:
                latencies.append(time.monotonic() - started)
            else:
                errors += 1

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(client, range(concurrency)))
    elapsed = time.monotonic() - started
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    return len(latencies) / elapsed, p50, len(latencies), errors


def scale(stack: Stack, table: Table, args: argparse.Namespace) -> None:
    for count in (0, 1, 2):
        if count:
            timed_up(
                stack,
                table,
                f"scale out to {count} worker machine(s)",
                f"workers-{count}",
                "--workers",
                str(count),
            )
        health = wait_healthy(stack.app_url, timeout=300)
        load(stack.app_url, args.concurrency, 2.0)  # warm-up: models loaded, connections open
        rate, p50, answered, errors = load(stack.app_url, args.concurrency, args.duration)
        hosts = ", ".join(f"{host} {len(nodes)}" for host, nodes in sorted(health.get("hosts", {}).items()))
        table.add(
            f"throughput, {count} worker machine(s)",
            f"{rate:.0f} predictions/s, p50 {p50:.0f} ms",
            f"{answered} answered, {errors} errors, {args.concurrency} clients; workers: {hosts}",
        )


def image_sizes(stack: Stack, table: Table) -> None:
    out = stack.ssh(
        "prodserver", "sudo docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' 'mlstack/*'"
    )
    for line in sorted(out.splitlines()):
        name, size = line.split(" ", 1)
        if name.startswith(("mlstack/web:", "mlstack/worker:")):
            table.add(f"image {name.split(':')[0]}", size, "built inside prodserver")


def serving(table: Table) -> None:
    """bench/predict_bench.py's figures (host processes: cached model vs reload per task)."""
    out = REPO_ROOT / "artifacts" / "bench" / "predict.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "predict_bench.py"), "--json", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        table.add("serving (predict_bench)", "failed", result.stderr.strip().splitlines()[-1:][0][:120])
        return
    figures = json.loads(out.read_text(encoding="utf-8"))
    for row in figures.get("results", figures if isinstance(figures, list) else []):
        table.add(
            f"serving, {row['pattern']}, {row['workers']} worker process(es)",
            f"{row['predictions_per_s']:.0f} predictions/s, p50 {row['p50_ms']:.1f} ms",
            "host processes, model loaded once"
            if row["pattern"] == "cached"
            else "the lab's reload per task",
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", action="store_true", help="remove the host's image caches first")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each throughput phase")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients in throughput phases")
    parser.add_argument("--no-scale", action="store_true", help="skip the worker machines")
    parser.add_argument("--no-serving", action="store_true", help="skip bench/predict_bench.py")
    args = parser.parse_args(argv)
    if not DATA_FILE.is_file():
        raise SystemExit(f"the data set {DATA_FILE} is missing")

    ensure_docker()
    table = Table()
    print(f"machine: {machine()}\ndate: {time.strftime('%Y-%m-%d %H:%M %Z')}", flush=True)
    prefix = f"sb-{uuid.uuid4().hex[:8]}"
    workdir = REPO_ROOT / "artifacts" / "bench" / prefix
    stack = Stack.create(
        prefix, workdir, {**VARIABLES, "model_serving_secrets_dir": str(workdir / "secrets")}
    )
    try:
        if args.cold:
            note = forget_host_caches()
            timed_up(stack, table, "time to serve, cold (host caches removed)", "up-cold")
            table.rows[-1] = (*table.rows[-1][:2], f"{note}; {table.rows[-1][2]}")
            down = stack.launcher("--destroy", log_name="destroy-cold", timeout=900)
            if down.rc != 0:
                raise SystemExit(f"--destroy failed (rc={down.rc}); see {stack.workdir / 'destroy-cold.log'}")
        timed_up(stack, table, "time to serve, warm (host caches kept, fresh machines)", "up-warm")
        timed_up(stack, table, "no-op re-run (start_instances.py)", "noop")
        stack.ssh(
            "prodserver",
            "sudo docker rm -f $(sudo docker ps -aq --filter label=com.docker.compose.project=mlstack)",
        )
        heal = stack.playbook("heal")
        wait_healthy(stack.app_url, timeout=300)
        table.add(
            "heal: app containers removed", f"{heal.seconds:.0f} s", f"rc={heal.rc}; changed: {changed(heal)}"
        )
        image_sizes(stack, table)
        if not args.no_scale:
            scale(stack, table, args)
    finally:
        down = stack.launcher("--destroy", log_name="destroy", timeout=900)
        print(f"destroy: rc={down.rc}, leftovers: {stack.leftovers() or 'none'}", flush=True)
    if not args.no_serving:
        serving(table)
    print()
    print(table.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
