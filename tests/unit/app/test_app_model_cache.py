"""The worker's model cache (mlapp.worker.model_cache): load once, reload when the file changes.

The loader is the seam: here it reads the file's text, so the reload logic is tested without
TensorFlow; the integration tests run the real Keras loader in a real worker."""

from __future__ import annotations

import json
import os

import pytest

from mlapp.model.files import atomic_write_text
from mlapp.worker.model_cache import ModelCache, ModelUnavailable


def text_loader(path):
    return path.read_text()


@pytest.fixture
def cache(tmp_path):
    return ModelCache(tmp_path / "model.keras", tmp_path / "metadata.json", loader=text_loader)


def test_missing_model_is_unavailable(cache):
    with pytest.raises(ModelUnavailable, match="no model at"):
        cache.get()


def test_loaded_once_while_the_file_is_unchanged(cache):
    atomic_write_text(cache.model_path, "v1")
    first = cache.get()
    assert first.predictor == "v1" and first.generation == 1
    for _ in range(5):
        assert cache.get() is first
    assert cache.loads == 1


def test_reloaded_after_an_atomic_replace(cache):
    atomic_write_text(cache.metadata_path, json.dumps({"trained_at": "t1", "accuracy": 0.5}))
    atomic_write_text(cache.model_path, "v1")
    assert cache.get().describe()["trained_at"] == "t1"
    atomic_write_text(cache.metadata_path, json.dumps({"trained_at": "t2", "accuracy": 0.7}))
    atomic_write_text(cache.model_path, "v2")
    loaded = cache.get()
    assert loaded.predictor == "v2" and loaded.generation == 2
    assert loaded.describe()["trained_at"] == "t2"
    # metadata without hold-out metrics (written before the split): its accuracy is on the training rows
    assert loaded.describe()["train_accuracy"] == 0.7 and loaded.describe()["holdout_accuracy"] is None


def test_describe_names_the_holdout_and_the_training_accuracy(cache):
    metadata = {"trained_at": "t", "accuracy": 0.76, "train_accuracy": 0.8, "holdout": {"accuracy": 0.76}}
    atomic_write_text(cache.metadata_path, json.dumps(metadata))
    atomic_write_text(cache.model_path, "v1")
    described = cache.get().describe()
    assert described["holdout_accuracy"] == 0.76 and described["train_accuracy"] == 0.8


def test_reloaded_after_an_in_place_rewrite_of_another_size(cache):
    cache.model_path.write_text("v1")
    cache.get()
    cache.model_path.write_text("version 2")
    assert cache.get().predictor == "version 2"


def test_reloaded_when_only_the_mtime_changes(cache):
    cache.model_path.write_text("v1")
    first = cache.get()
    st = os.stat(cache.model_path)
    os.utime(cache.model_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert cache.get() is not first


def test_loader_failure_is_unavailable(tmp_path):
    def broken(path):
        raise ValueError("not a keras file")

    cache = ModelCache(tmp_path / "model.keras", tmp_path / "metadata.json", loader=broken)
    cache.model_path.write_text("garbage")
    with pytest.raises(ModelUnavailable, match="not a keras file"):
        cache.get()


def test_sha256_identifies_the_loaded_bytes(cache):
    cache.model_path.write_bytes(b"abc")
    assert cache.get().sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
