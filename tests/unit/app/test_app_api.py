"""The web's HTTP surface through Flask's test client, with the broker unreachable: a body not declared
JSON answers 415 and validation 400/413 before anything is sent, valid requests end in 503 (with
Retry-After, and no internals in the message), and nothing ever answers 500."""

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


def test_api_v1_is_the_same_api_under_a_versioned_path(mlapp_client):
    v1 = mlapp_client.get("/api/v1").get_json()
    assert v1["version"] == "v1"
    assert v1["endpoints"] == {
        "predict": "/api/v1/predict",
        "accuracy": "/api/v1/accuracy",
        "health": "/healthz",
    }
    legacy = mlapp_client.get("/api").get_json()
    assert legacy["endpoints"]["predict"] == "/api/predict"
    assert {**v1, "endpoints": None} == {**legacy, "endpoints": None}
    assert _error(mlapp_client.post("/api/v1/predict", json=ROW[:5]), 400)["row_error"] == "wrong_count"


def test_body_not_declared_json_is_415(mlapp_client):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": content_type} if content_type else {}
        for path in ("/api/predict", "/api/v1/predict"):
            response = mlapp_client.post(path, data=json.dumps(ROW), headers=headers)
            body = _error(response, 415)
            assert body["error"] == "unsupported_media_type"
            assert "application/json" in body["message"]


def test_json_content_types_are_accepted(mlapp_client):
    for content_type in ("application/json", "application/json; charset=utf-8", "application/vnd.x+json"):
        response = mlapp_client.post("/api/predict", data=json.dumps(ROW), content_type=content_type)
        assert response.status_code == 503  # valid: it went on to the (closed) broker


def test_declared_json_that_is_not_json_is_400(mlapp_client):
    body = _error(mlapp_client.post("/api/predict", data="hello", content_type="application/json"), 400)
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
    for path in ("/api/predict", "/api/v1/predict"):
        response = mlapp_client.get(path)
        _error(response, 405)
        assert {m.strip() for m in response.headers["Allow"].split(",")} == {"POST", "OPTIONS"}
    response = mlapp_client.delete("/api/v1/accuracy")
    _error(response, 405)
    assert "GET" in response.headers["Allow"]


def test_valid_rows_without_a_broker_answer_503_with_retry_after(mlapp_client, mlapp_offline_config):
    response = mlapp_client.post("/api/predict", json=ROW)
    body = _error(response, 503)
    assert body["error"] == "unavailable_broker"
    assert "broker" in body["message"]
    assert int(response.headers["Retry-After"]) > 0
    # no broker URL, port, host or exception text ("Connection refused", "[Errno 111]")
    port = mlapp_offline_config.broker_url.rsplit(":", 1)[1].strip("/")
    for internal in ("amqp", "127.0.0.1", port, "Errno", "refused", "nobody"):
        assert internal not in response.get_data(as_text=True)


def test_healthz_without_a_broker_is_503_status_only(mlapp_client):
    response = mlapp_client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}
    assert int(response.headers["Retry-After"]) > 0


def test_livez_is_the_web_process_only(mlapp_client):
    assert mlapp_client.get("/livez").get_json() == {"status": "ok"}


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_pages_without_a_broker_answer_a_503_page_to_browsers(mlapp_client):
    for path in ("/predictions", "/accuracy"):
        response = mlapp_client.get(path, headers=BROWSER)
        assert response.status_code == 503
        assert response.mimetype == "text/html"
        assert int(response.headers["Retry-After"]) > 0
        page = response.get_data(as_text=True)
        assert "Service unavailable" in page and "broker" in page


def test_the_error_format_follows_accept_not_the_url(mlapp_client):
    """API clients (no Accept, */*, application/json) get JSON errors on pages too; browsers get HTML
    errors on API paths too."""
    for accept in (None, "*/*", "application/json", "text/html;q=0.5, application/json"):
        headers = {"Accept": accept} if accept else {}
        for path in ("/predictions", "/nothing"):
            response = mlapp_client.get(path, headers=headers)
            assert response.is_json, (accept, path, response.mimetype)
            assert response.get_json()["error"]
    for path, method, status in (("/api/predict", "post", 503), ("/api/nothing", "get", 404)):
        response = getattr(mlapp_client, method)(path, json=ROW, headers=BROWSER)
        assert response.status_code == status
        assert response.mimetype == "text/html", path
    response = mlapp_client.get("/api/predict", headers=BROWSER)
    assert response.status_code == 405 and response.mimetype == "text/html"
    assert "POST" in response.headers["Allow"]


def test_landing_page_links_the_pages(mlapp_client):
    page = mlapp_client.get("/").get_data(as_text=True)
    for link in ('href="/predictions"', 'href="/accuracy"', 'href="/healthz"'):
        assert link in page


def test_html_404_for_browsers(mlapp_client):
    response = mlapp_client.get("/nothing", headers=BROWSER)
    assert response.status_code == 404
    assert response.mimetype == "text/html"


# --- property test: whatever the body, the answer is JSON with a 4xx/503 status, never a 500 ---------------
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
    assert response.status_code in {400, 413, 415, 503}, response.get_data(as_text=True)
    assert response.is_json
    payload = response.get_json()
    assert isinstance(payload["message"], str) and payload["message"]
    assert (response.status_code == 415) == (content_type != "application/json")
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
