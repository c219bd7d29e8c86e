"""The web's HTTP surface through Flask's test client, with the broker unreachable: validation answers
400/413 before anything is sent, valid requests end in 503, and nothing ever answers 500."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from mlapp.features import FEATURES

ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]


def _error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert body["error"] and body["message"]
    return body


def test_api_index_documents_features_and_limits(mlapp_client):
    body = mlapp_client.get("/api").get_json()
    assert body["features"] == list(FEATURES)
    assert body["limits"]["max_rows"] == 1000
    assert body["endpoints"]["predict"] == "/api/predict"


def test_non_json_body(mlapp_client):
    body = _error(mlapp_client.post("/api/predict", data="hello", content_type="text/plain"), 400)
    assert body["error"] == "invalid_input"
    assert "not valid JSON" in body["message"]


def test_wrong_feature_count(mlapp_client):
    body = _error(mlapp_client.post("/api/predict", json=ROW[:5]), 400)
    assert "expected 8 values" in body["message"]
    assert body["row_error"] == "wrong_count"


def test_missing_names(mlapp_client):
    row = dict(zip(FEATURES, ROW, strict=True))
    del row["BMI"]
    body = _error(mlapp_client.post("/api/predict", json=row), 400)
    assert body["missing"] == ["BMI"]


def test_non_numeric(mlapp_client):
    body = _error(mlapp_client.post("/api/predict", json=[*ROW[:7], "old"]), 400)
    assert body["row_error"] == "non_numeric"


def test_nan_and_infinity(mlapp_client):
    for literal in ("NaN", "Infinity", "-Infinity", "1e999"):
        data = "[" + ", ".join([*map(str, ROW[:7]), literal]) + "]"
        body = _error(mlapp_client.post("/api/predict", data=data, content_type="application/json"), 400)
        assert "finite" in body["message"] or "not a valid number" in body["message"]


def test_negative(mlapp_client):
    body = _error(mlapp_client.post("/api/predict", json=[-1, *ROW[1:]]), 400)
    assert body["row_error"] == "negative"


def test_more_rows_than_the_limit(mlapp_client):
    body = _error(mlapp_client.post("/api/predict", json=[ROW] * 1001), 400)
    assert body["limit"] == 1000


def test_oversized_body_is_413_json(mlapp_client):
    data = json.dumps([ROW] * 20_000)
    assert len(data) > 512 * 1024
    body = _error(mlapp_client.post("/api/predict", data=data, content_type="application/json"), 413)
    assert "524288 bytes" in body["message"]


def test_unknown_api_route_and_wrong_method_answer_json(mlapp_client):
    _error(mlapp_client.get("/api/nothing"), 404)
    _error(mlapp_client.get("/api/predict"), 405)


def test_valid_rows_without_a_broker_answer_503(mlapp_client):
    body = _error(mlapp_client.post("/api/predict", json=ROW), 503)
    assert body["error"] == "unavailable_broker"
    assert "broker" in body["message"]


def test_healthz_without_a_broker_is_503_json(mlapp_client):
    response = mlapp_client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["broker"].startswith("unreachable")
    assert body["workers"] == []


def test_livez_is_the_web_process_only(mlapp_client):
    assert mlapp_client.get("/livez").get_json() == {"status": "ok"}


def test_pages_without_a_broker_answer_a_503_page(mlapp_client):
    for path in ("/predictions", "/accuracy"):
        response = mlapp_client.get(path)
        assert response.status_code == 503
        assert response.mimetype == "text/html"
        page = response.get_data(as_text=True)
        assert "Service unavailable" in page and "broker" in page


def test_landing_page_links_the_pages(mlapp_client):
    page = mlapp_client.get("/").get_data(as_text=True)
    for link in ('href="/predictions"', 'href="/accuracy"', 'href="/healthz"'):
        assert link in page


def test_html_404_outside_the_api(mlapp_client):
    response = mlapp_client.get("/nothing")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


# --- property test: whatever the body, the answer is JSON with a 2xx/4xx/503 status, never a 500 ------------
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=10)
)
json_like = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=9)
    | st.dictionaries(st.sampled_from([*FEATURES, "rows", "glucose", "bmi"]) | st.text(max_size=6), children),
    max_leaves=30,
)
almost_rows = st.lists(
    st.floats(min_value=-5, max_value=2e6)
    | st.integers(-3, 300)
    | st.sampled_from([math.nan, math.inf, -math.inf]),
    min_size=7,
    max_size=9,
)
bodies = (
    st.binary(max_size=200)
    | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | json_like.map(lambda v: json.dumps(v, allow_nan=True).encode())
    | almost_rows.map(lambda v: json.dumps(v, allow_nan=True).encode())
    | st.lists(almost_rows, max_size=4).map(lambda v: json.dumps({"rows": v}, allow_nan=True).encode())
    | st.lists(st.floats(min_value=0, max_value=1e6), min_size=8, max_size=8).map(
        lambda v: json.dumps(v).encode()
    )
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, content_type=st.sampled_from(["application/json", "text/plain", None]))
def test_fuzzed_bodies_never_answer_500(mlapp_client, body, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = mlapp_client.post("/api/predict", data=body, headers=headers)
    event(f"status {response.status_code}")
    assert response.status_code in {400, 413, 503}, response.get_data(as_text=True)
    assert response.is_json
    payload = response.get_json()
    assert isinstance(payload["message"], str) and payload["message"]
    if response.status_code == 400:
        assert payload["error"] == "invalid_input"
    # a 503 means the body was valid: then it really is a list of finite, non-negative numbers
    if response.status_code == 503:
        leaves = list(_leaves(json.loads(body)))
        assert leaves
        assert all(type(v) in (int, float) and math.isfinite(v) and v >= 0 for v in leaves)


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value
