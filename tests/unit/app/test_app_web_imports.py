"""The web side must run without TensorFlow (its image has none): serving pages must not import it."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import sys
from mlapp.config import Config
from mlapp.web import create_app
client = create_app(Config(broker_url="amqp://x:y@127.0.0.1:1//", predict_timeout=1)).test_client()
client.get("/"); client.get("/api"); client.post("/api/predict", json=[1] * 8); client.get("/predictions")
client.get("/status"); client.get("/healthz")
heavy = sorted(m for m in ("tensorflow", "keras", "numpy") if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_web_never_imports_tensorflow_keras_or_numpy(mlapp_repo):
    env = {**os.environ, "PYTHONPATH": str(mlapp_repo / "app")}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert result.stdout.strip() == "none"
