"""RabbitMQ's definitions file written by the role model_serving (filter_plugins/rabbitmq_definitions.py):
RabbitMQ's documented password hash, a file that does not change between runs, three distinct users, and
permissions that refuse what Celery does not use. The broker accepting these hashes and refusing the rest
is tested for real in tests/integration/app/test_app_compose.py."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PLUGIN = REPO / "roles" / "model_serving" / "filter_plugins" / "rabbitmq_definitions.py"
spec = importlib.util.spec_from_file_location("rabbitmq_definitions", PLUGIN)
assert spec and spec.loader
definitions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(definitions)

SECRETS = {
    "rabbitmq_password": "a" * 32,
    "rabbitmq_web_password": "w" * 32,
    "rabbitmq_worker_password": "k" * 32,
    "flask_secret_key": "f" * 64,
}
UUID = "0f8e5a56-2d1c-3f2a-9c7b-5d8e2a1b3c4d"


def test_the_hash_is_rabbitmqs_documented_example():
    # https://www.rabbitmq.com/docs/passwords#computing-password-hash: "test12" with salt 908D C60A
    assert definitions.password_hash("test12", bytes.fromhex("908DC60A")) == (
        "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
    )


def test_the_same_secrets_give_the_same_file_and_no_password_in_it():
    text = definitions.rabbitmq_definitions(SECRETS, "mlstack", "web", "worker")
    assert text == definitions.rabbitmq_definitions(SECRETS, "mlstack", "web", "worker")  # idempotent
    for value in SECRETS.values():
        assert value not in text
    document = json.loads(text)
    users = {user["name"]: user for user in document["users"]}
    assert {name: user["tags"] for name, user in users.items()} == {
        "mlstack": ["administrator"],
        "web": [],
        "worker": [],
    }
    assert len({user["password_hash"] for user in users.values()}) == 3


def test_the_users_must_differ():
    with pytest.raises(ValueError, match="must differ"):
        definitions.rabbitmq_definitions(SECRETS, "mlstack", "app", "app")


def allowed(user: str, kind: str, name: str) -> bool:
    return re.search(definitions.PERMISSIONS[user][kind], name) is not None


@pytest.mark.parametrize("user", ["web", "worker"])
@pytest.mark.parametrize("name", ["other", "amq.rabbitmq.trace", "mlapp2", "x.mlapp", "celeryev2"])
def test_app_users_may_configure_nothing_but_celerys_names(user, name):
    assert not allowed(user, "configure", name)


def test_only_web_declares_rpc_reply_queues_and_only_web_reads_them():
    assert allowed("web", "configure", UUID) and allowed("web", "read", UUID)
    assert not allowed("worker", "configure", UUID) and not allowed("worker", "read", UUID)


def test_web_cannot_read_the_workers_control_and_event_queues():
    for name in ("prodserver@abc.celery.pidbox", "celeryev.1234", "celery.pidbox", "celeryev"):
        assert not allowed("web", "read", name), name
        assert allowed("worker", "read", name), name
