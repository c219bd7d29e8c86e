"""Training on the real data set (in this process, TensorFlow on CPU, 12 epochs: seconds): the hold-out
metrics beat the majority-class baseline, one seed gives the same metrics twice, and the saved model holds
its preprocessing (imputation of zeros, scaling), so the worker's loader serves raw rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mlapp.features import FEATURES, ZERO_MEANS_MISSING
from mlapp.model.dataset import load_csv
from mlapp.model.split import stratified_split

EPOCHS, SEED = 12, 1
MARGIN = 0.03


@pytest.fixture(scope="module")
def network():
    from mlapp.model import network

    return network


@pytest.fixture(scope="module")
def dataset(mlapp_data_csv):
    return load_csv(mlapp_data_csv)


@pytest.fixture(scope="module")
def trained(network, dataset):
    return network.train(dataset, epochs=EPOCHS, batch_size=10, seed=SEED)


def test_holdout_accuracy_beats_the_majority_baseline(trained, dataset):
    holdout = trained.holdout
    print(f"hold-out: {json.dumps(holdout, sort_keys=True)}; training accuracy {trained.train_accuracy:.4f}")
    assert holdout["rows"] == 154 and holdout["seed"] == SEED and holdout["fraction"] == 0.2
    assert sum(holdout["confusion"].values()) == 154
    # the baseline always answers the training rows' majority class ("no diabetes")
    assert holdout["majority_class"] == 0
    assert holdout["baseline_accuracy"] == pytest.approx(100 / 154)
    assert holdout["accuracy"] > holdout["baseline_accuracy"] + MARGIN
    assert trained.accuracy == holdout["accuracy"]
    assert holdout["roc_auc"] is not None and holdout["roc_auc"] > 0.5 + MARGIN


def test_the_same_seed_gives_the_same_metrics(network, dataset, trained):
    again = network.train(dataset, epochs=EPOCHS, batch_size=10, seed=SEED)
    assert again.holdout == trained.holdout
    assert (again.train_accuracy, again.loss) == (trained.train_accuracy, trained.loss)


def test_preprocessing_is_fitted_on_the_training_rows_only(trained, dataset):
    split = stratified_split(dataset.y, 0.2, seed=SEED)
    x_train = dataset.x[split.train].astype(np.float64)
    imputer = trained.model.get_layer("impute_missing")
    for column, value in zip(imputer.columns, imputer.values, strict=True):
        present = x_train[:, column][x_train[:, column] != 0]
        assert value == pytest.approx(np.median(present))
        x_train[x_train[:, column] == 0, column] = value
    assert [FEATURES[c] for c in imputer.columns] == list(ZERO_MEANS_MISSING)
    scale = trained.model.get_layer("scale")
    assert np.asarray(scale.mean).reshape(-1) == pytest.approx(x_train.mean(axis=0), rel=1e-5)
    assert np.asarray(scale.variance).reshape(-1) == pytest.approx(x_train.var(axis=0), rel=1e-4)


LOAD_AS_THE_WORKER_DOES = """
import json, sys
import numpy as np
from mlapp.worker.model_cache import ModelCache
cache = ModelCache(sys.argv[1], sys.argv[2])
rows = np.asarray(json.loads(sys.argv[3]), dtype=np.float32)
print(json.dumps(cache.get().predictor(rows).tolist()))
"""


def test_the_worker_loads_the_saved_model_and_serves_raw_rows(trained, tmp_path, mlapp_repo):
    """In a fresh interpreter, through the worker's ModelCache and default loader: the custom layer is
    found, zeros are imputed inside the model, and the answers are the in-memory model's."""
    trained.model.save(tmp_path / "model.keras")
    (tmp_path / "metadata.json").write_text("{}")
    imputer = trained.model.get_layer("impute_missing")
    glucose = FEATURES.index("Glucose")
    raw = [6.0, 0.0, 72.0, 35.0, 0.0, 33.6, 0.627, 50.0]  # Glucose and Insulin not measured
    filled = list(raw)
    for column, value in zip(imputer.columns, imputer.values, strict=True):
        if filled[column] == 0:
            filled[column] = value
    other = [*raw[:glucose], 148.0, *raw[glucose + 1 :]]
    rows = [raw, filled, other]
    env = {**os.environ, "PYTHONPATH": str(mlapp_repo / "app"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AS_THE_WORKER_DOES, str(tmp_path / "model.keras"),
         str(tmp_path / "metadata.json"), json.dumps(rows)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    expected = np.asarray(trained.model(np.asarray(rows, dtype=np.float32), training=False)).reshape(-1)
    assert served == pytest.approx(expected.tolist(), abs=1e-6)
    assert served[0] == pytest.approx(served[1], abs=1e-6)  # a zero is the training median
    assert served[0] != pytest.approx(served[2], abs=1e-6)  # a measured value is not replaced
