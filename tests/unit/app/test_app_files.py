"""Atomic replacement of model files (mlapp.model.files) and metadata.json."""

from __future__ import annotations

import json
import os
import stat

import pytest

from mlapp.model.files import atomic_replace, atomic_write_text
from mlapp.model.metadata import ModelMetadata, read_metadata, write_metadata


def test_replace_swaps_the_inode_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("old")
    before = os.stat(target).st_ino
    atomic_replace(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "new"
    assert os.stat(target).st_ino != before
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_temporary_file_keeps_the_target_suffix(tmp_path):
    seen = []
    atomic_replace(tmp_path / "model.keras", lambda tmp: (seen.append(tmp), tmp.write_text("x")))
    assert seen[0].suffix == ".keras" and seen[0].parent == tmp_path


def test_result_is_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "m.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "m.json").st_mode) == 0o644


def test_failed_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("old")

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_replace(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_metadata_round_trip(tmp_path):
    meta = ModelMetadata(
        accuracy=0.75,
        loss=0.5,
        data_sha256="ab" * 32,
        data_source="/d.csv",
        rows=768,
        epochs=3,
        batch_size=10,
        seed=1,
        trained_at="2025-01-01T00:00:00+00:00",
        features=("a", "b"),
        framework="tf",
    )
    write_metadata(tmp_path / "metadata.json", meta)
    data = read_metadata(tmp_path / "metadata.json")
    assert data["accuracy"] == 0.75 and data["features"] == ["a", "b"]
    assert ModelMetadata.from_dict({**data, "future_field": 1}) == meta


HOLDOUT = {
    "accuracy": 0.766234,
    "precision": 0.7,
    "recall": 0.518519,
    "f1": 0.595745,
    "roc_auc": 0.817593,
    "baseline_accuracy": 0.649351,
    "majority_class": 0,
    "confusion": {"tn": 90, "fp": 10, "fn": 26, "tp": 28},
    "rows": 154,
    "threshold": 0.5,
    "seed": 1,
    "fraction": 0.2,
}


def test_metadata_round_trip_with_holdout_metrics(tmp_path):
    meta = ModelMetadata(
        accuracy=HOLDOUT["accuracy"],
        loss=0.5,
        data_sha256="ab" * 32,
        data_source="/d.csv",
        rows=768,
        epochs=12,
        batch_size=10,
        seed=1,
        trained_at="2025-01-01T00:00:00+00:00",
        features=("a", "b"),
        framework="tf",
        train_accuracy=0.775244,
        holdout=HOLDOUT,
    )
    write_metadata(tmp_path / "metadata.json", meta)
    data = read_metadata(tmp_path / "metadata.json")
    assert data["holdout"] == HOLDOUT and data["train_accuracy"] == 0.775244
    assert ModelMetadata.from_dict(data) == meta


def test_metadata_of_an_older_version_loads_without_holdout_metrics(tmp_path):
    old = {  # a metadata.json written before the hold-out split: no holdout, no train_accuracy
        "accuracy": 0.78,
        "batch_size": 10,
        "data_sha256": "ab" * 32,
        "data_source": "/d.csv",
        "epochs": 150,
        "features": ["a"],
        "framework": "tf",
        "loss": 0.45,
        "rows": 768,
        "seed": 7,
        "trained_at": "2025-01-01T00:00:00+00:00",
    }
    (tmp_path / "metadata.json").write_text(json.dumps(old))
    meta = ModelMetadata.from_dict(read_metadata(tmp_path / "metadata.json"))
    assert meta.holdout is None and meta.train_accuracy is None and meta.accuracy == 0.78
    without_accuracy = {k: v for k, v in old.items() if k != "accuracy"}
    with pytest.raises(TypeError, match="accuracy"):
        ModelMetadata.from_dict(without_accuracy)


def test_unreadable_metadata_is_none(tmp_path):
    assert read_metadata(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert read_metadata(tmp_path / "bad.json") is None
