"""The Keras network of the original lab (8 -> 12 relu -> 8 relu -> 1 sigmoid), preceded by its
preprocessing (missing values imputed with the training medians, features scaled by the training mean and
standard deviation), its training on a stratified hold-out split, and a fast predictor for serving. The
preprocessing is part of the saved model: serving takes raw rows. Imports TensorFlow: only the worker and
the training CLI use this module."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from mlapp.features import FEATURES, N_FEATURES, ZERO_MEANS_MISSING
from mlapp.model import metrics
from mlapp.model.dataset import Dataset
from mlapp.model.layers import ZeroImputation, zero_medians
from mlapp.model.split import DEFAULT_HOLDOUT_FRACTION, stratified_split

MISSING_COLUMNS: tuple[int, ...] = tuple(FEATURES.index(name) for name in ZERO_MEANS_MISSING)


@dataclass(frozen=True)
class TrainingResult:
    model: keras.Model
    loss: float  # binary cross-entropy on the hold-out rows
    accuracy: float  # on the hold-out rows
    train_accuracy: float  # on the rows the model was fit on
    holdout: dict[str, Any]  # metrics.binary_report of the hold-out rows, plus "seed" and "fraction"


def build_model(x_train: np.ndarray) -> keras.Model:
    """The network with its preprocessing fitted on the training rows `x_train` (raw features)."""
    medians = zero_medians(x_train, MISSING_COLUMNS)
    imputed = np.array(x_train, dtype=np.float64)
    for column, median in zip(MISSING_COLUMNS, medians, strict=True):
        imputed[imputed[:, column] == 0, column] = median
    model = keras.Sequential(
        [
            keras.Input(shape=(N_FEATURES,)),
            ZeroImputation(MISSING_COLUMNS, medians, name="impute_missing"),
            keras.layers.Normalization(mean=imputed.mean(axis=0), variance=imputed.var(axis=0), name="scale"),
            keras.layers.Dense(12, activation="relu"),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def train(
    dataset: Dataset,
    epochs: int,
    batch_size: int,
    seed: int | None,
    holdout_fraction: float = DEFAULT_HOLDOUT_FRACTION,
) -> TrainingResult:
    """Fit on a stratified split of the data set and score the held-out rows. With a seed, the split,
    the weights and the metrics are the same on every run (on CPU); without one, the split's seed is
    drawn (and recorded in the result)."""
    if seed is not None:
        # Python, numpy and TensorFlow seeds: on CPU this makes the weights and the metrics repeatable
        # (tests/unit/app/test_app_holdout_training.py trains twice). tf's enable_op_determinism() is not
        # needed on CPU, and it logs a spurious error about tf.data's parallel map on every fit.
        keras.utils.set_random_seed(seed)
    split_seed = seed if seed is not None else secrets.randbelow(2**31)
    split = stratified_split(dataset.y, holdout_fraction, split_seed)
    x_train, y_train = dataset.x[split.train], dataset.y[split.train]
    x_hold, y_hold = dataset.x[split.holdout], dataset.y[split.holdout]
    model = build_model(x_train)
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, verbose=0)
    loss, _ = model.evaluate(x_hold, y_hold, verbose=0)
    holdout = metrics.binary_report(y_hold, _probabilities(model, x_hold), metrics.majority_class(y_train))
    holdout.update(seed=split_seed, fraction=holdout_fraction)
    train_predicted = (_probabilities(model, x_train) >= metrics.THRESHOLD).astype(np.int64)
    return TrainingResult(
        model=model,
        loss=float(loss),
        accuracy=holdout["accuracy"],
        train_accuracy=metrics.accuracy(y_train, train_predicted),
        holdout=holdout,
    )


def _probabilities(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x, training=False)).reshape(-1).astype(np.float64)


def framework_version() -> str:
    return f"tensorflow {tf.__version__}, keras {keras.__version__}"


class Predictor:
    """Probabilities from a loaded model through one traced tf.function (sub-millisecond for a row),
    instead of model.predict(), which builds a data pipeline on every call (tens of milliseconds)."""

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self._forward = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec(shape=[None, N_FEATURES], dtype=tf.float32)],
            reduce_retracing=True,
            autograph=False,  # a plain call: no Python control flow to convert, no generated files in /tmp
        )

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self._forward(tf.convert_to_tensor(np.asarray(x, dtype=np.float32)))
        return out.numpy().reshape(-1).astype(np.float64)


def load_predictor(path: Path) -> Predictor:
    model = keras.models.load_model(path, compile=False)
    predictor = Predictor(model)
    predictor(np.zeros((1, N_FEATURES), dtype=np.float32))  # trace once, so the first request is fast
    return predictor
