"""RabbitMQ's definitions file for the stack (role model_serving): the users, their password hashes and
their permissions on the vhost "/", loaded by the broker at boot (`load_definitions` in rabbitmq.conf).

Accounts:
  <admin>  administrator tag, every permission: RabbitMQ itself and the role; never given to web or workers
  web      publishes tasks, pings workers and reads its own replies (Celery's rpc:// result backend);
           no management tag (no management API), no write on the default exchange (cannot post results)
  worker   consumes tasks, publishes results on the default exchange, answers pings, sends events;
           no management tag
Both app users may declare, bind and read only the names Celery uses: the task queue and exchange
(`mlapp`), pidbox exchanges and queues (`celery.pidbox`, `reply.celery.pidbox`, `<name>.celery.pidbox`,
`<uuid>.reply.celery.pidbox`), the event exchange and queues (`celeryev`, `celeryev.<uuid>`) and, for web,
the rpc:// reply queue (a UUID). Anything else on the vhost is refused (access_refused).

Password hashes are RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))
with a 4-byte salt (https://www.rabbitmq.com/docs/passwords#computing-password-hash). The salt is derived
from the user name and password, so the same password always gives the same file (a re-run changes
nothing); the passwords are 32 random characters, which a salt cannot make any stronger.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

VHOST = "/"
TASK_QUEUE = "mlapp"
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_CELERY = r"mlapp|celery\.pidbox|reply\.celery\.pidbox|celeryev(\..+)?|.+\.celery\.pidbox"
# configure / write / read regular expressions of each app user.
PERMISSIONS: dict[str, dict[str, str]] = {
    "web": {
        "configure": rf"^({_CELERY}|{_UUID})$",
        "write": rf"^({_CELERY}|{_UUID}|amq\.default)$",
        "read": rf"^(mlapp|reply\.celery\.pidbox|{_UUID}|{_UUID}\.reply\.celery\.pidbox)$",
    },
    "worker": {
        "configure": rf"^({_CELERY})$",
        "write": rf"^({_CELERY}|amq\.default)$",
        "read": rf"^({_CELERY})$",
    },
}


def password_hash(password: str, salt: bytes | None = None, user: str = "") -> str:
    """RabbitMQ's SHA-256 password hash; the salt defaults to one derived from user and password."""
    if salt is None:
        salt = hashlib.sha256(f"mlstack-salt\0{user}\0{password}".encode()).digest()[:4]
    if len(salt) != 4:
        raise ValueError("RabbitMQ's salt is 4 bytes")
    digest = hashlib.sha256(salt + password.encode("utf-8")).digest()
    return base64.b64encode(salt + digest).decode("ascii")


def definitions(admin_user: str, admin_password: str, web: tuple[str, str], worker: tuple[str, str]) -> dict:
    """The definitions document: the vhost, the three users and their permissions."""
    names = [admin_user, web[0], worker[0]]
    if len(set(names)) != 3:
        raise ValueError(f"the administrator, web and worker users must differ: {names}")

    def user(name: str, password: str, tags: list[str]) -> dict[str, Any]:
        return {
            "name": name,
            "password_hash": password_hash(password, user=name),
            "hashing_algorithm": "rabbit_password_hashing_sha256",
            "tags": tags,
            "limits": {},
        }

    admin_permissions = {"configure": ".*", "write": ".*", "read": ".*"}
    return {
        "users": [
            user(admin_user, admin_password, ["administrator"]),
            user(web[0], web[1], []),
            user(worker[0], worker[1], []),
        ],
        "vhosts": [{"name": VHOST}],
        "permissions": [
            {"user": admin_user, "vhost": VHOST, **admin_permissions},
            {"user": web[0], "vhost": VHOST, **PERMISSIONS["web"]},
            {"user": worker[0], "vhost": VHOST, **PERMISSIONS["worker"]},
        ],
    }


def rabbitmq_definitions(secrets: dict[str, str], admin_user: str, web_user: str, worker_user: str) -> str:
    """Ansible filter: the definitions file (JSON) from the role's secrets mapping."""
    document = definitions(
        admin_user,
        secrets["rabbitmq_password"],
        (web_user, secrets["rabbitmq_web_password"]),
        (worker_user, secrets["rabbitmq_worker_password"]),
    )
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"rabbitmq_definitions": rabbitmq_definitions}
