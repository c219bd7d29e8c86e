"""Parsing and validation of prediction rows (mlapp.features)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlapp.features import (
    FEATURES,
    MAX_FEATURE_VALUE,
    ValidationError,
    normalize_name,
    parse_json,
    parse_rows,
)

ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]
NAMED = dict(zip(FEATURES, ROW, strict=True))
SNAKE = {
    "pregnancies": 6,
    "glucose": 148,
    "blood_pressure": 72,
    "skin_thickness": 35,
    "insulin": 0,
    "bmi": 33.6,
    "diabetes_pedigree_function": 0.627,
    "age": 50,
}


def test_positional_row():
    assert parse_rows(ROW) == [[float(v) for v in ROW]]


@pytest.mark.parametrize("row", [NAMED, SNAKE, {k.upper(): v for k, v in NAMED.items()}])
def test_named_rows_in_any_spelling_give_the_positional_order(row):
    assert parse_rows(row) == parse_rows(ROW)


def test_lists_of_rows_mix_named_and_positional():
    assert parse_rows([ROW, SNAKE]) == parse_rows(ROW) * 2
    assert parse_rows({"rows": [ROW, NAMED, ROW]}) == parse_rows(ROW) * 3


@pytest.mark.parametrize(
    "name,key",
    [("BloodPressure", "bloodpressure"), ("diabetes-pedigree function", "diabetespedigreefunction")],
)
def test_normalize_name(name, key):
    assert normalize_name(name) == key


@pytest.mark.parametrize(
    "payload,fragment",
    [
        (ROW[:7], "expected 8 values"),
        ([*ROW, 1], "expected 8 values"),
        ({k: v for k, v in NAMED.items() if k != "Age"}, "missing Age"),
        ({**NAMED, "Height": 1}, "unknown Height"),
        ({**NAMED, "glucose": 1}, "more than once"),
        ([*ROW[:7], "50"], "expected a number, got str"),
        ([*ROW[:7], True], "expected a number, got bool"),
        ([*ROW[:7], None], "expected a number, got NoneType"),
        ([*ROW[:7], -1], "must not be negative"),
        ([*ROW[:7], math.inf], "finite"),
        ([*ROW[:7], math.nan], "finite"),
        ([*ROW[:7], MAX_FEATURE_VALUE * 2], "must not exceed"),
        ([*ROW[:7], 10**400], "finite"),
        ([], "no rows"),
        ({"rows": []}, "no rows"),
        ({"rows": ROW, "extra": 1}, "no other keys"),
        ({"rows": 5}, "must be a list"),
        ([ROW, 5], "a row is a list"),
        ("text", "got str"),
        (42, "got int"),
        (None, "got NoneType"),
    ],
)
def test_invalid_rows_are_rejected_with_a_reason(payload, fragment):
    with pytest.raises(ValidationError) as info:
        parse_rows(payload)
    assert fragment in info.value.message


def test_row_limit():
    assert len(parse_rows([ROW] * 5, max_rows=5)) == 5
    with pytest.raises(ValidationError, match=r"too many rows: 6 .*limit is 5"):
        parse_rows([ROW] * 6, max_rows=5)


@pytest.mark.parametrize(
    "body,fragment",
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"not json", "not valid JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b"[NaN, 1]", "NaN is not a valid number"),
        (b"[Infinity]", "Infinity"),
        (b"[-Infinity]", "-Infinity"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_parse_json_rejects(body, fragment):
    with pytest.raises(ValidationError, match=fragment):
        parse_json(body)


def test_parse_json_accepts_json():
    assert parse_json(b'{"rows": [[1, 2.5]]}') == {"rows": [[1, 2.5]]}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=10)
    | st.dictionaries(st.sampled_from([*FEATURES, "rows", "x", "AGE"]) | st.text(max_size=8), children),
    max_leaves=40,
)


@given(json_values)
def test_parse_rows_returns_clean_rows_or_raises_validation_error(payload):
    try:
        rows = parse_rows(payload)
    except ValidationError as exc:
        assert exc.message
        return
    assert rows
    for row in rows:
        assert len(row) == len(FEATURES)
        assert all(isinstance(v, float) and math.isfinite(v) and 0 <= v <= MAX_FEATURE_VALUE for v in row)


@given(st.lists(st.floats(min_value=0, max_value=MAX_FEATURE_VALUE), min_size=8, max_size=8))
def test_any_valid_positional_row_is_accepted_unchanged(row):
    assert parse_rows(row) == [row]
