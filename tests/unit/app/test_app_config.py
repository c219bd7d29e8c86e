"""Settings from the environment (mlapp.config)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest
from kombu.utils.url import url_to_parts

from mlapp.config import Config, ConfigError


def test_defaults_without_environment():
    config = Config.from_env({})
    assert config.broker_url == "amqp://guest:guest@localhost:5672/%2F"
    assert config.result_backend == "rpc://"
    assert config.predict_timeout == 10.0
    assert config.max_rows == 1000
    assert config.model_path == Path("/srv/model/model.keras")
    assert len(config.secret_key) >= 32


def test_broker_url_is_built_with_encoded_credentials():
    config = Config.from_env(
        {
            "RABBITMQ_HOST": "rabbitmq",
            "RABBITMQ_PORT": "5673",
            "RABBITMQ_USER": "app user",
            "RABBITMQ_PASSWORD": "p@ss:w/rd#?",
            "RABBITMQ_VHOST": "ml",
        }
    )
    parts = url_to_parts(config.broker_url)
    assert (parts.hostname, parts.port) == ("rabbitmq", 5673)
    assert unquote(parts.username) == "app user"
    assert unquote(parts.password) == "p@ss:w/rd#?"
    assert parts.path == "ml"


def test_secrets_are_read_from_the_files_the_file_variables_name(tmp_path):
    (tmp_path / "password").write_text("p@ss:w/rd#?\n", encoding="utf-8")
    (tmp_path / "key").write_text("flask-key", encoding="utf-8")
    config = Config.from_env(
        {
            "RABBITMQ_USER": "web",
            "RABBITMQ_PASSWORD_FILE": str(tmp_path / "password"),
            "RABBITMQ_PASSWORD": "the-development-one",
            "FLASK_SECRET_KEY_FILE": str(tmp_path / "key"),
        }
    )
    assert unquote(url_to_parts(config.broker_url).password) == "p@ss:w/rd#?"
    assert config.secret_key == "flask-key"


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_a_missing_or_empty_secret_file_is_refused_by_name(tmp_path, content):
    path = tmp_path / "password"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="RABBITMQ_PASSWORD_FILE="):
        Config.from_env({"RABBITMQ_PASSWORD_FILE": str(path)})


def test_explicit_broker_url_wins():
    url = "amqp://a:b@127.0.0.1:5672/x"
    assert Config.from_env({"CELERY_BROKER_URL": url, "RABBITMQ_HOST": "other"}).broker_url == url


def test_values_are_parsed():
    config = Config.from_env(
        {
            "PREDICT_TIMEOUT": "2.5",
            "PREDICT_MAX_ROWS": "10",
            "MODEL_DIR": "/m",
            "DATA_FILE": "/d.csv",
            "WORKER_CONCURRENCY": "3",
            "FLASK_SECRET_KEY": "s",
        }
    )
    assert (config.predict_timeout, config.max_rows, config.worker_concurrency) == (2.5, 10, 3)
    assert (config.model_dir, config.data_file, config.secret_key) == (Path("/m"), Path("/d.csv"), "s")


@pytest.mark.parametrize(
    "env,fragment",
    [
        ({"PREDICT_TIMEOUT": "soon"}, "PREDICT_TIMEOUT='soon' is not a number"),
        ({"PREDICT_TIMEOUT": "0"}, "greater than 0"),
        ({"PREDICT_MAX_ROWS": "1.5"}, "not an integer"),
    ],
)
def test_bad_values_are_reported_by_name(env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        Config.from_env(env)


def test_machine_host_defaults_to_local():
    assert Config.from_env({}).machine_host == "local"
    assert Config.from_env({"MACHINE_HOST": ""}).machine_host == "local"
    assert Config.from_env({"MACHINE_HOST": "mlstack-worker-1"}).machine_host == "mlstack-worker-1"


@pytest.mark.parametrize("value", ["a@b", "two words", "tab\there"])
def test_machine_host_must_be_a_plain_name(value):
    with pytest.raises(ConfigError, match="MACHINE_HOST"):
        Config.from_env({"MACHINE_HOST": value})
