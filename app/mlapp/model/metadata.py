"""metadata.json, written next to model.keras by the training CLI and read back by the worker."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from mlapp.model.files import atomic_write_text


@dataclass(frozen=True)
class ModelMetadata:
    """What a model was trained on and how it scored. `accuracy` and `loss` are measured on the hold-out
    rows (never used in training); `holdout` holds the other hold-out metrics (mlapp.model.metrics
    binary_report, with the split's "seed" and "fraction"); `train_accuracy` is the accuracy on the rows
    the model was fit on. Metadata written before the hold-out split has neither: both are None there,
    and its `accuracy` was measured on the training data."""

    accuracy: float
    loss: float
    data_sha256: str
    data_source: str
    rows: int
    epochs: int
    batch_size: int
    seed: int | None
    trained_at: str
    features: tuple[str, ...]
    framework: str
    train_accuracy: float | None = None
    holdout: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = list(self.features)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelMetadata:
        """Build from a decoded metadata.json; unknown keys are ignored, missing ones raise TypeError,
        except train_accuracy and holdout, which older files lack (None then)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["features"] = tuple(values.get("features", ()))
        return cls(**values)


def write_metadata(path: Path, metadata: ModelMetadata) -> None:
    atomic_write_text(path, json.dumps(metadata.to_dict(), indent=2, sort_keys=True) + "\n")


def read_metadata(path: Path) -> dict[str, Any] | None:
    """The metadata as a plain dict (for JSON answers), or None when the file is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
