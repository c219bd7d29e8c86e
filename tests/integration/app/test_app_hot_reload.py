"""Hot reload: replacing model.keras under a running worker changes the next prediction, no restart."""

from __future__ import annotations

import hashlib
import json

import pytest
from app_services import ROW, copy_model, make_config, start_worker, train

from mlapp.web import create_app


@pytest.fixture
def reloading_setup(mlapp_empty_vhost, mlapp_models, tmp_path):
    """A worker of the test's own serving model "a" from tmp_path/served, and a test client."""
    served = tmp_path / "served"
    copy_model(mlapp_models["a"].path, served)
    worker, _ = start_worker(mlapp_empty_vhost.url, served, tmp_path, name="reload")
    app = create_app(make_config(mlapp_empty_vhost.url))
    yield served, app.test_client(), worker
    app.extensions["mlapp"].celery.close()
    worker.stop()


def predict(client):
    response = client.post("/api/predict", json=ROW)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.mark.timeout(300)
def test_replacing_the_model_file_changes_the_next_prediction(reloading_setup, mlapp_models):
    served, client, worker = reloading_setup
    a, b = mlapp_models["a"], mlapp_models["b"]
    first = predict(client)
    assert first["model"]["sha256"] == a.sha256
    assert predict(client)["model"]["generation"] == first["model"]["generation"]  # not reloaded

    copy_model(b.path, served)
    second = predict(client)
    assert second["model"]["sha256"] == b.sha256
    assert second["model"]["epochs"] == b.metadata["epochs"] == 3
    assert second["model"]["generation"] == first["model"]["generation"] + 1
    assert second["predictions"][0]["probability"] != first["predictions"][0]["probability"]

    copy_model(a.path, served)  # and back: the same model gives the same answer again
    third = predict(client)
    assert third["model"]["sha256"] == a.sha256
    assert third["predictions"] == first["predictions"]
    assert worker.log().count("loaded model") == 3


@pytest.mark.timeout(300)
def test_training_into_the_served_directory_is_picked_up(reloading_setup, mlapp_models):
    served, client, _ = reloading_setup
    before = predict(client)
    train(served, epochs=2, seed=5)  # the real CLI writes metadata.json, then model.keras, atomically
    after = predict(client)
    expected = hashlib.sha256((served / "model.keras").read_bytes()).hexdigest()
    assert after["model"]["sha256"] == expected != before["model"]["sha256"]
    metadata = json.loads((served / "metadata.json").read_text())
    assert after["model"]["trained_at"] == metadata["trained_at"]
    assert after["model"]["epochs"] == 2
