"""The model's own preprocessing layer, saved inside model.keras so serving takes raw rows.

Registered as "mlapp>ZeroImputation": keras.models.load_model finds it once this module is imported
(mlapp.model.network imports it, and the worker loads models through that module)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="mlapp")
class ZeroImputation(keras.layers.Layer):
    """Replace a 0 in the given columns (0 meaning "not measured") by that column's fill value."""

    def __init__(self, columns: Sequence[int], values: Sequence[float], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if len(columns) != len(values):
            raise ValueError("one fill value per column")
        self.columns = [int(c) for c in columns]
        self.values = [float(v) for v in values]

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        width = int(input_shape[-1])
        mask = np.zeros(width, dtype=bool)
        fill = np.zeros(width, dtype=np.float32)
        mask[self.columns] = True
        fill[self.columns] = self.values
        self._mask = ops.convert_to_tensor(mask)
        self._fill = ops.convert_to_tensor(fill)

    def call(self, inputs: Any) -> Any:
        missing = ops.logical_and(ops.equal(inputs, 0.0), self._mask)
        return ops.where(missing, ops.cast(self._fill, inputs.dtype), inputs)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "columns": self.columns, "values": self.values}


def zero_medians(x: np.ndarray, columns: Sequence[int]) -> list[float]:
    """The median of each column over its non-zero values (0.0 for a column with none)."""
    medians = []
    for column in columns:
        present = x[:, column][x[:, column] != 0]
        medians.append(float(np.median(present)) if present.size else 0.0)
    return medians
