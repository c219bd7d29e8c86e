"""The Keras network of the original lab (8 -> 12 relu -> 8 relu -> 1 sigmoid), its training, and a fast
predictor for serving. Imports TensorFlow: only the worker and the training CLI use this module."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import tensorflow as tf

from mlapp.features import N_FEATURES
from mlapp.model.dataset import Dataset


@dataclass(frozen=True)
class TrainingResult:
    model: keras.Model
    loss: float
    accuracy: float


def build_model() -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input(shape=(N_FEATURES,)),
            keras.layers.Dense(12, activation="relu"),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def train(dataset: Dataset, epochs: int, batch_size: int, seed: int | None) -> TrainingResult:
    """Fit on the whole data set and evaluate on it, as the original lab does."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = build_model()
    model.fit(dataset.x, dataset.y, epochs=epochs, batch_size=batch_size, verbose=0)
    loss, accuracy = model.evaluate(dataset.x, dataset.y, verbose=0)
    return TrainingResult(model=model, loss=float(loss), accuracy=float(accuracy))


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


def predict_reloading(path: Path, x: np.ndarray) -> np.ndarray:
    """The original lab's pattern: load the model from disk and call model.predict() for every request."""
    model = keras.models.load_model(path)
    return model.predict(np.asarray(x, dtype=np.float32), verbose=0).reshape(-1).astype(np.float64)
