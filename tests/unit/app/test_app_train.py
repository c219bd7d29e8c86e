"""The training CLI (python -m mlapp.model.train), run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run_train(repo, *args, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(repo / "app")}
    return subprocess.run(
        [sys.executable, "-m", "mlapp.model.train", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def test_trains_and_writes_model_and_metadata(mlapp_repo, mlapp_data_csv, mlapp_data_sha256, tmp_path):
    out = tmp_path / "model"
    result = run_train(
        mlapp_repo,
        "--data",
        str(mlapp_data_csv),
        "--sha256",
        mlapp_data_sha256,
        "--out",
        str(out),
        "--epochs",
        "2",
        "--seed",
        "3",
    )
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["metadata.json", "model.keras"]
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["data_sha256"] == mlapp_data_sha256
    assert meta["epochs"] == 2 and meta["rows"] == 768 and meta["seed"] == 3
    holdout = meta["holdout"]
    assert meta["accuracy"] == holdout["accuracy"]
    assert holdout["seed"] == 3 and holdout["rows"] == 154 and holdout["fraction"] == 0.2
    assert sum(holdout["confusion"].values()) == 154
    assert holdout["baseline_accuracy"] == round(100 / 154, 6)
    for key in ("precision", "recall", "f1", "roc_auc"):
        assert 0.0 <= holdout[key] <= 1.0, key
    assert 0.0 <= meta["train_accuracy"] <= 1.0
    assert f"hold-out accuracy {meta['accuracy']:.4f} (majority baseline 0.6494)" in result.stdout
    assert meta["trained_at"].endswith("+00:00")
    assert meta["features"][0] == "Pregnancies"


def test_sha256_mismatch_is_a_clear_error(mlapp_repo, mlapp_data_csv, tmp_path):
    result = run_train(
        mlapp_repo, "--data", str(mlapp_data_csv), "--sha256", "1" * 64, "--out", str(tmp_path / "m")
    )
    assert result.returncode == 1
    assert "sha256 mismatch" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "m").exists()


def test_missing_data_and_bad_arguments(mlapp_repo, tmp_path):
    result = run_train(mlapp_repo, "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "m"))
    assert result.returncode == 1 and "data set not found" in result.stderr
    result = run_train(mlapp_repo, "--data", "x.csv", "--out", str(tmp_path), "--epochs", "0")
    assert result.returncode == 2 and "must be at least 1" in result.stderr
    result = run_train(mlapp_repo, "--data", "x.csv", "--out", str(tmp_path), "--sha256", "xyz")
    assert result.returncode == 2 and "64 hexadecimal digits" in result.stderr
