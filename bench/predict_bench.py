"""Benchmark of POST /api/predict through gunicorn -> RabbitMQ -> Celery worker, on loopback only.

Two serving patterns, each with 1 and 2 worker processes, in the same run:
  cached  the app's task "model.predict": the model is loaded once per worker process (reloaded only when
          the file changes);
  reload  the original lab's pattern, task "model.predict_reload_each_time": the model is loaded from disk
          for every task. That task and the switch pointing the web at it (PREDICT_TASK) are test hooks
          (tests/integration/app/mlapp_testhooks), in no image: both patterns run on the hooked apps.
For each: p50/p95 latency of single-row requests sent one at a time, then predictions/s with CONCURRENCY
clients for DURATION seconds. Prints a table, the ratios, and the sizes of the app images when built.

    .venv/bin/python bench/predict_bench.py [--duration 5] [--concurrency 4] [--requests 200] [--json PATH]

Needs the local RabbitMQ (started through scripts/ensure-rabbitmq.sh); uses a vhost and user of its own,
deleted at the end. Bounded: every phase stops at its request count or its duration.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "app"), str(REPO / "tests" / "integration" / "app")]

from app_services import ROW, Vhost, ensure_rabbitmq, start_gunicorn, start_worker, train  # noqa: E402
from mlapp_testhooks import PREDICT_RELOAD_TASK  # noqa: E402

from mlapp.celery_app import PREDICT_TASK  # noqa: E402

IMAGES = (
    ("web", "mlstack/web:latest", 250),
    ("worker", "mlstack/worker:latest", 2048),
    ("rabbitmq", "mlstack/rabbitmq:local", None),
)
PATTERNS = {"cached": PREDICT_TASK, "reload": PREDICT_RELOAD_TASK}


@dataclass
class Result:
    pattern: str
    workers: int
    latency_requests: int
    p50_ms: float
    p95_ms: float
    throughput_requests: int
    throughput_seconds: float
    predictions_per_s: float
    errors: int


class Client:
    """Posts one JSON row to /api/predict over a fresh loopback connection (the same method before and
    after the web front moved from sync to threaded workers)."""

    def __init__(self, base: str) -> None:
        url = urlparse(base)
        self.host, self.port = url.hostname, url.port
        self.body = json.dumps(ROW).encode()

    def post(self) -> bool:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request("POST", "/api/predict", self.body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            return response.status == 200
        except OSError:
            return False
        finally:
            conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(
    base: str, pattern: str, workers: int, requests: int, duration: float, concurrency: int
) -> Result:
    client = Client(base)
    for _ in range(5):  # warm up: connections, first task, model load
        client.post()
    latencies, errors = [], 0
    deadline = time.monotonic() + duration * 3
    for _ in range(requests):
        started = time.perf_counter()
        errors += not client.post()
        latencies.append((time.perf_counter() - started) * 1000)
        if time.monotonic() > deadline:
            break

    counts = [0] * concurrency
    failures = [0] * concurrency
    stop_at = time.monotonic() + duration

    def hammer(i: int) -> None:
        own = Client(base)
        while time.monotonic() < stop_at:
            if own.post():
                counts[i] += 1
            else:
                failures[i] += 1

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return Result(
        pattern=pattern,
        workers=workers,
        latency_requests=len(latencies),
        p50_ms=round(statistics.median(latencies), 2),
        p95_ms=round(percentile(latencies, 0.95), 2),
        throughput_requests=sum(counts),
        throughput_seconds=round(elapsed, 2),
        predictions_per_s=round(sum(counts) / elapsed, 1),
        errors=errors + sum(failures),
    )


def run_scenario(vhost: Vhost, model_dir: Path, logs: Path, pattern: str, workers: int, args) -> Result:
    procs = []
    try:
        for i in range(workers):
            name = f"bench-{pattern}-{workers}-{i}"
            worker, _ = start_worker(vhost.url, model_dir, logs, name=name, test_hooks=True)
            procs.append(worker)
        web, base = start_gunicorn(
            vhost.url,
            logs,
            extra_env={"PREDICT_TASK": PATTERNS[pattern], "PREDICT_TIMEOUT": "60"},
            workers=4,
            wsgi_app="mlapp_testhooks.web:create_app()",
        )
        procs.append(web)
        requests = args.requests if pattern == "cached" else max(10, args.requests // 10)
        return measure(base, pattern, workers, requests, args.duration, args.concurrency)
    finally:
        for proc in procs:
            proc.stop()


def image_sizes() -> list[tuple[str, str, float | None, int | None]]:
    sizes = []
    for role, tag, limit in IMAGES:
        try:
            out = subprocess.run(
                ["docker", "image", "inspect", "-f", "{{.Size}}", tag],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            out = None
        size = int(out.stdout.strip()) / 1e6 if out is not None and out.returncode == 0 else None
        sizes.append((role, tag, size, limit))
    return sizes


def report(results: list[Result], sizes, out) -> None:
    print("\nPOST /api/predict, one row per request, gunicorn -> RabbitMQ -> Celery (loopback)", file=out)
    print(f"{'pattern':<8} {'workers':>7} {'p50 ms':>8} {'p95 ms':>8} {'pred/s':>8} {'errors':>6}", file=out)
    for r in results:
        print(
            f"{r.pattern:<8} {r.workers:>7} {r.p50_ms:>8.2f} {r.p95_ms:>8.2f} {r.predictions_per_s:>8.1f} "
            f"{r.errors:>6}",
            file=out,
        )
    by = {(r.pattern, r.workers): r for r in results}
    print("\nratios (cached / reload-per-task):", file=out)
    for workers in (1, 2):
        c, r = by.get(("cached", workers)), by.get(("reload", workers))
        if c and r and r.predictions_per_s and c.p50_ms:
            print(
                f"  {workers} worker(s): throughput x{c.predictions_per_s / r.predictions_per_s:.1f}, "
                f"p50 latency /{r.p50_ms / c.p50_ms:.1f}",
                file=out,
            )
    for pattern in PATTERNS:
        one, two = by.get((pattern, 1)), by.get((pattern, 2))
        if one and two and one.predictions_per_s:
            scaling = two.predictions_per_s / one.predictions_per_s
            print(f"  {pattern}: 2 workers / 1 worker throughput x{scaling:.2f}", file=out)
    print("\nimage sizes:", file=out)
    for role, tag, size, limit in sizes:
        if size is None:
            print(f"  {role:<8} {tag:<26} not built", file=out)
        else:
            verdict = (
                "" if limit is None else (f"  (target < {limit} MB: {'ok' if size < limit else 'OVER'})")
            )
            print(f"  {role:<8} {tag:<26} {size:8.1f} MB{verdict}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds of each throughput phase")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients in throughput phases")
    parser.add_argument("--requests", type=int, default=200, help="sequential requests for latency (cached)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the benchmark's model")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = parser.parse_args(argv)

    ensure_rabbitmq()
    vhost = Vhost().create()
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory(prefix="mlapp-bench-") as tmp:
            tmp_path = Path(tmp)
            train(tmp_path / "model", epochs=args.epochs, seed=7)
            for pattern in PATTERNS:
                for workers in (1, 2):
                    print(f"bench: {pattern} with {workers} worker(s) ...", file=sys.stderr, flush=True)
                    results.append(run_scenario(vhost, tmp_path / "model", tmp_path, pattern, workers, args))
    finally:
        vhost.delete()
    sizes = image_sizes()
    report(results, sizes, sys.stdout)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "results": [asdict(r) for r in results],
            "images_mb": {tag: size for _, tag, size, _ in sizes},
            "settings": {
                "duration": args.duration,
                "concurrency": args.concurrency,
                "requests": args.requests,
            },
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
