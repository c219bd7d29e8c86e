"""The model's input: the eight features of a row, and the validation of rows sent by clients.

Pure Python (no numpy): the web container validates requests before they reach the broker.

Accepted request bodies (JSON):
  * one positional row:          [6, 148, 72, 35, 0, 33.6, 0.627, 50]
  * one named row:               {"Pregnancies": 6, "Glucose": 148, ...}
  * a list of rows (either kind): [[...], {...}, ...]
  * a wrapped list:              {"rows": [[...], {...}, ...]}
Names are matched case-insensitively with "_", "-" and spaces ignored, so "BloodPressure",
"blood_pressure" and "bloodpressure" are the same feature. Values must be JSON numbers (not strings or
booleans), finite, and between 0 and MAX_FEATURE_VALUE.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

FEATURES: tuple[str, ...] = (
    "Pregnancies",
    "Glucose",
    "BloodPressure",
    "SkinThickness",
    "Insulin",
    "BMI",
    "DiabetesPedigreeFunction",
    "Age",
)
N_FEATURES = len(FEATURES)
# In the Pima data set a 0 in these columns means "not measured" (nobody has a BMI or glucose of 0): the
# model replaces such zeros by the training data's median of the column.
ZERO_MEANS_MISSING: tuple[str, ...] = ("Glucose", "BloodPressure", "SkinThickness", "Insulin", "BMI")
# Far above any value in the data set (Insulin tops at 846); keeps float32 arithmetic finite.
MAX_FEATURE_VALUE = 1_000_000.0
DEFAULT_MAX_ROWS = 1000

_SEPARATORS = re.compile(r"[\s_\-]+")


def normalize_name(name: str) -> str:
    """The key a feature name is matched by: lower case without separators."""
    return _SEPARATORS.sub("", name).lower()


_BY_KEY: dict[str, int] = {normalize_name(name): i for i, name in enumerate(FEATURES)}


@dataclass
class ValidationError(Exception):
    """A request body that is not a valid set of rows; `message` is meant for the client."""

    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


def _reject_constant(name: str) -> Any:
    raise ValidationError(f"{name} is not a valid number: values must be finite")


def parse_json(body: bytes) -> Any:
    """Decode a request body; NaN/Infinity literals and invalid UTF-8/JSON raise ValidationError."""
    if not body.strip():
        raise ValidationError("the request body is empty: send JSON rows of the 8 features")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError("the request body is not UTF-8 encoded JSON") from exc
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ValidationError("the JSON document is nested too deeply") from exc
    except ValueError as exc:
        raise ValidationError(f"the request body is not valid JSON: {exc}") from exc


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(
            f"{where}: expected a number, got {type(value).__name__}",
            {"row_error": "non_numeric"},
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ValidationError(f"{where}: values must be finite", {"row_error": "not_finite"})
    if number < 0:
        raise ValidationError(f"{where}: values must not be negative", {"row_error": "negative"})
    if number > MAX_FEATURE_VALUE:
        raise ValidationError(
            f"{where}: values must not exceed {MAX_FEATURE_VALUE:g}", {"row_error": "too_large"}
        )
    return number


def _positional_row(row: list[Any], where: str) -> list[float]:
    if len(row) != N_FEATURES:
        raise ValidationError(
            f"{where}: expected {N_FEATURES} values ({', '.join(FEATURES)}), got {len(row)}",
            {"row_error": "wrong_count"},
        )
    return [_number(value, f"{where}, {FEATURES[i]}") for i, value in enumerate(row)]


def _named_row(row: dict[str, Any], where: str) -> list[float]:
    values: list[float | None] = [None] * N_FEATURES
    unknown: list[str] = []
    for name, value in row.items():
        index = _BY_KEY.get(normalize_name(name))
        if index is None:
            unknown.append(name)
            continue
        if values[index] is not None:
            raise ValidationError(
                f"{where}: feature {FEATURES[index]} is given more than once", {"row_error": "duplicate"}
            )
        values[index] = _number(value, f"{where}, {FEATURES[index]}")
    missing = [FEATURES[i] for i, v in enumerate(values) if v is None]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown {', '.join(sorted(unknown)[:10])}")
        raise ValidationError(
            f"{where}: {'; '.join(parts)} (expected {', '.join(FEATURES)})",
            {"row_error": "names", "missing": missing, "unknown": sorted(unknown)[:10]},
        )
    return [v for v in values if v is not None]


def _row(row: Any, where: str) -> list[float]:
    if isinstance(row, dict):
        return _named_row(row, where)
    if isinstance(row, list):
        return _positional_row(row, where)
    raise ValidationError(
        f"{where}: a row is a list of {N_FEATURES} numbers or an object of named features, "
        f"got {type(row).__name__}",
        {"row_error": "shape"},
    )


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, list | dict)


def parse_rows(payload: Any, max_rows: int = DEFAULT_MAX_ROWS) -> list[list[float]]:
    """Turn a decoded JSON body into rows of N_FEATURES floats, or raise ValidationError."""
    if isinstance(payload, dict) and "rows" in payload:
        if len(payload) != 1:
            raise ValidationError('a body with "rows" must have no other keys')
        rows = payload["rows"]
        if not isinstance(rows, list):
            raise ValidationError('"rows" must be a list of rows')
    elif isinstance(payload, dict) or (
        isinstance(payload, list) and payload and all(_is_scalar(v) for v in payload)
    ):
        rows = [payload]  # a single row, named or positional
    elif isinstance(payload, list):
        rows = payload
    else:
        raise ValidationError(
            f"expected a row or a list of rows of the {N_FEATURES} features, got {type(payload).__name__}"
        )
    if not rows:
        raise ValidationError("no rows given")
    if len(rows) > max_rows:
        raise ValidationError(
            f"too many rows: {len(rows)} (the limit is {max_rows} per request)",
            {"limit": max_rows},
        )
    return [_row(row, f"row {i}") for i, row in enumerate(rows)]
