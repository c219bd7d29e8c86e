"""The test bed's control plane, started inside its container (``python3 /testbed/inside.py``; Debian's
python3 with the OpenStack packages, the standard library plus keystoneclient here).

No init system: every database sync and service start is ours, in this order: MariaDB and RabbitMQ ->
keystone (db_sync, fernet_setup, credential_setup, bootstrap, service users and catalog) -> the other
schemas (in parallel with keystone's set-up) -> placement, glance, neutron-server, nova conductor,
scheduler and api -> nova-compute (fake driver) -> ``nova-manage cell_v2 discover_hosts``. Then it writes
``/run/testbed-ready`` and waits; a service that exits is logged (``docker logs``).

``inside.py bake`` does all that once, stops every service cleanly and writes /var/lib/testbed-baked:
bed.py commits that container as the baked image (migrated databases, keystone's keys, users and catalog,
the compute host mapped). A start from the baked image skips the set-up: MariaDB and RabbitMQ, then every
service at once (nova-compute once keystone and placement answer), the catalog's ports moved to this
start's TESTBED_PORT_BASE, READY when nova-compute has reported in.

Environment: TESTBED_PORT_BASE (the APIs listen on base + upstream port % 1000), TESTBED_PASSWORD.
Logs: /var/log/testbed/<service>.log.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from string import Template

HERE = Path(__file__).resolve().parent
LOGS = Path("/var/log/testbed")
READY = Path("/run/testbed-ready")
BAKED = Path("/var/lib/testbed-baked")
BASE = int(os.environ.get("TESTBED_PORT_BASE", "25000"))
PASSWORD = os.environ.get("TESTBED_PASSWORD", "testbed")
UPSTREAM = {"keystone": 5000, "glance": 9292, "placement": 8778, "nova": 8774, "neutron": 9696}
PORTS = {name: BASE + port % 1000 for name, port in UPSTREAM.items()}
SERVICE_TYPES = {
    "glance": ("image", ""),
    "placement": ("placement", ""),
    "nova": ("compute", "/v2.1"),
    "neutron": ("network", ""),
}
DATABASES = {
    "keystone": ["keystone"],
    "glance": ["glance"],
    "placement": ["placement"],
    "nova": ["nova_api", "nova", "nova_cell0"],
    "neutron": ["neutron"],
}
CONFIGS = {
    "my.cnf": "/etc/mysql/mariadb.conf.d/99-testbed.cnf",
    "keystone.conf": "/etc/keystone/keystone.conf",
    "glance-api.conf": "/etc/glance/glance-api.conf",
    "placement.conf": "/etc/placement/placement.conf",
    "nova.conf": "/etc/nova/nova.conf",
    "neutron.conf": "/etc/neutron/neutron.conf",
    "ml2_conf.ini": "/etc/neutron/plugins/ml2/ml2_conf.ini",
}
children: dict[str, subprocess.Popen[bytes]] = {}
started = time.monotonic()


def say(line: str) -> None:
    print(f"[testbed {time.monotonic() - started:5.1f}s] {line}", flush=True)


def url(service: str) -> str:
    return f"http://127.0.0.1:{PORTS[service]}"


def authtoken(user: str) -> str:
    return "\n".join(
        [
            "[keystone_authtoken]",
            f"www_authenticate_uri = {url('keystone')}",
            f"auth_url = {url('keystone')}",
            "auth_type = password",
            "project_domain_name = Default",
            "user_domain_name = Default",
            "project_name = service",
            f"username = {user}",
            f"password = {PASSWORD}",
            "service_token_roles_required = true",
        ]
    )


def write_configs() -> None:
    values = {f"port_{name}": str(port) for name, port in PORTS.items()}
    values["password"] = PASSWORD
    values.update({f"authtoken_{user}": authtoken(user) for user in SERVICE_TYPES})
    for template, target in CONFIGS.items():
        text = Template((HERE / "templates" / template).read_text()).substitute(values)
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(text)


def install_neutron_stand_ins() -> None:
    """Copy testbed_neutron into dist-packages with a dist-info that registers the mechanism driver."""
    site = Path("/usr/local/lib/python3/dist-packages")
    site = next(Path("/usr/local/lib").glob("python3*/dist-packages"), site)
    site.mkdir(parents=True, exist_ok=True)
    shutil.copytree(HERE / "testbed_neutron", site / "testbed_neutron", dirs_exist_ok=True)
    info = site / "testbed_neutron-0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: testbed-neutron\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[neutron.ml2.mechanism_drivers]\n"
        "testbed_bind_all = testbed_neutron.bind_all:BindAllMechanismDriver\n"
    )


def run(*argv: str, log: str, ok_if: str | None = None) -> str:
    """Run a set-up command; its output goes to ``log``; a failure stops the test bed."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    with (LOGS / f"{log}.log").open("a") as out:
        out.write(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0 and not (ok_if and ok_if in result.stdout + result.stderr):
        say(f"FAILED: {' '.join(argv)} (exit {result.returncode}):\n{result.stdout}{result.stderr}")
        sys.exit(1)
    return result.stdout


def start(name: str, *argv: str, env: dict[str, str] | None = None) -> None:
    out = (LOGS / f"{name}.out").open("ab")
    children[name] = subprocess.Popen(
        argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, start_new_session=True
    )
    say(f"started {name} (pid {children[name].pid})")


def uwsgi(name: str, script: str, port: int, threads: int = 4) -> None:
    """One uwsgi process per API; ``Connection: close`` on every answer (uwsgi's --http-socket closes the
    socket after each answer but says HTTP/1.1, so clients would reuse dead connections)."""
    start(
        name,
        "uwsgi",
        "--plugin", "python3",
        "--http-socket", f"0.0.0.0:{port}",
        "--wsgi-file", script,
        "--master", "--processes", "1", "--threads", str(threads),
        "--add-header", "Connection: close",
        "--buffer-size", "65535",
        "--die-on-term", "--need-app", "--lazy-apps",  # the master stays small: only the worker loads the app
        "--logto", str(LOGS / f"{name}.log"),
    )  # fmt: skip


def wait_port(name: str, port: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_children()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                say(f"{name} answers on port {port}")
                return
        except OSError:
            time.sleep(0.3)
    say(f"FAILED: {name} did not open port {port} within {timeout:.0f}s (see {LOGS}/{name}.*)")
    sys.exit(1)


def check_children() -> None:
    for name, child in children.items():
        if child.poll() is not None:
            tail = (LOGS / f"{name}.out").read_text(errors="replace").splitlines()[-20:]
            say(f"FAILED: {name} exited with {child.returncode}:\n" + "\n".join(tail))
            sys.exit(1)


def sql(statement: str, log: str = "mariadb-setup") -> str:
    return run("mariadb", "-uroot", "-N", "-e", statement, log=log)


def start_mariadb(create: bool = True) -> None:
    Path("/run/mysqld").mkdir(exist_ok=True)
    shutil.chown("/run/mysqld", "mysql", "mysql")
    start("mariadb", "mariadbd", "--user=mysql")
    wait_port("mariadb", 3306)
    if not create:
        return
    statements = []
    for user, names in DATABASES.items():
        statements.append(f"CREATE USER IF NOT EXISTS '{user}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';")
        for db in names:
            statements.append(f"CREATE DATABASE IF NOT EXISTS {db};")
            statements.append(f"GRANT ALL PRIVILEGES ON {db}.* TO '{user}'@'127.0.0.1';")
    run("mariadb", "-uroot", "-e", "\n".join(statements), log="mariadb-setup")


def start_rabbitmq() -> None:
    start(
        "rabbitmq",
        "rabbitmq-server",
        env={"RABBITMQ_NODENAME": "rabbit@localhost", "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1"},
    )


def keystone() -> None:
    conf = "/etc/keystone/keystone.conf"
    run("keystone-manage", "--config-file", conf, "db_sync", log="keystone-manage")
    for step in ("fernet_setup", "credential_setup"):
        run(
            "keystone-manage",
            step,
            "--keystone-user",
            "keystone",
            "--keystone-group",
            "keystone",
            log="keystone-manage",
        )
    endpoint = f"{url('keystone')}/v3"
    run(
        "keystone-manage", "bootstrap", "--bootstrap-password", PASSWORD,
        "--bootstrap-admin-url", endpoint, "--bootstrap-internal-url", endpoint,
        "--bootstrap-public-url", endpoint, "--bootstrap-region-id", "RegionOne",
        log="keystone-manage",
    )  # fmt: skip
    uwsgi("keystone", "/usr/bin/keystone-wsgi-public", PORTS["keystone"])
    wait_port("keystone", PORTS["keystone"])


def register_services() -> None:
    """The service project, one admin user per service and the catalog (all endpoints 127.0.0.1)."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v3
    from keystoneclient.v3 import client

    auth = v3.Password(
        auth_url=f"{url('keystone')}/v3",
        username="admin",
        password=PASSWORD,
        project_name="admin",
        user_domain_id="default",
        project_domain_id="default",
    )
    ks = client.Client(session=session.Session(auth=auth))
    project = ks.projects.create("service", "default", description="service users")
    admin = ks.roles.find(name="admin")
    service_role = ks.roles.create("service")  # service tokens must carry it (service_token_roles_required)
    for user, (kind, path) in SERVICE_TYPES.items():
        created = ks.users.create(user, domain="default", password=PASSWORD)
        ks.roles.grant(admin, user=created, project=project)
        ks.roles.grant(service_role, user=created, project=project)
        service = ks.services.create(user, type=kind)
        for interface in ("public", "internal", "admin"):
            ks.endpoints.create(service, f"{url(user)}{path}", interface=interface, region="RegionOne")


def sync_nova() -> None:
    run("nova-manage", "api_db", "sync", log="nova-manage")
    run("nova-manage", "cell_v2", "map_cell0", log="nova-manage")
    run("nova-manage", "cell_v2", "create_cell", "--name", "cell1", log="nova-manage", ok_if="already exists")
    run("nova-manage", "db", "sync", log="nova-manage")


def sync_others() -> None:
    """The schemas of glance, placement, neutron and nova, as parallel processes while keystone is set up
    here (no threads: the OpenStack libraries may monkey-patch them)."""
    me = [sys.executable, str(Path(__file__).resolve())]
    jobs = {
        "glance-manage": ["glance-manage", "db_sync"],
        "placement-manage": ["placement-manage", "db", "sync"],
        "neutron-db-manage": [
            "neutron-db-manage",
            "--config-file",
            "/etc/neutron/neutron.conf",
            "--config-file",
            "/etc/neutron/plugins/ml2/ml2_conf.ini",
            "upgrade",
            "heads",
        ],
        "nova-sync": [*me, "sync-nova"],
    }
    running = {}
    for name, argv in jobs.items():
        out = (LOGS / f"{name}.log").open("ab")
        running[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    keystone()
    run(*me, "register-services", log="keystone-register")
    say("keystone: service users and catalog registered")
    for name, job in running.items():
        if job.wait() != 0:
            tail = (LOGS / f"{name}.log").read_text(errors="replace").splitlines()[-20:]
            say(f"FAILED: {name} (exit {job.returncode}):\n" + "\n".join(tail))
            sys.exit(1)
    say("all schemas synced")


def start_services(before_compute: tuple[str, ...] = ()) -> None:
    uwsgi("placement", "/usr/bin/placement-api", PORTS["placement"])
    start("glance", "glance-api", "--config-file", "/etc/glance/glance-api.conf")
    start(
        "neutron",
        "neutron-server",
        "--config-file", "/etc/neutron/neutron.conf",
        "--config-file", "/etc/neutron/plugins/ml2/ml2_conf.ini",
    )  # fmt: skip
    start("nova-conductor", "nova-conductor", "--config-file", "/etc/nova/nova.conf")
    start("nova-scheduler", "nova-scheduler", "--config-file", "/etc/nova/nova.conf")
    uwsgi("nova-api", "/usr/bin/nova-api-wsgi", PORTS["nova"], threads=1)
    for name in (*before_compute, "placement"):
        wait_port(name, PORTS[name])
    # the compute service from the Python module: the nova-compute package would pull libvirt and qemu
    start(
        "nova-compute",
        "python3",
        "-c",
        "import sys; from nova.cmd.compute import main; sys.argv[0] = 'nova-compute'; main()",
        "--config-file",
        "/etc/nova/nova.conf",
    )
    for name in ("glance", "neutron", "nova"):
        wait_port(name, PORTS[name])


def retarget_endpoints(baked_base: int) -> None:
    """The catalog of a baked image names the ports of the start that baked it: move them to ours."""
    if baked_base == BASE:
        return
    for name, port in UPSTREAM.items():
        old, new = f"127.0.0.1:{baked_base + port % 1000}", f"127.0.0.1:{PORTS[name]}"
        sql(f"UPDATE keystone.endpoint SET url = REPLACE(url, '{old}', '{new}');", log="retarget")
    say(f"catalog moved from port base {baked_base} to {BASE}")


def wait_compute_reported(since: str, timeout: float = 180) -> None:
    """Until nova-compute has reported in after ``since`` (UTC): the scheduler counts it as up."""
    deadline = time.monotonic() + timeout
    query = (
        "SELECT COUNT(*) FROM nova.services WHERE `binary` = 'nova-compute' AND deleted = 0 "
        f"AND COALESCE(updated_at, created_at) >= '{since}';"
    )
    while time.monotonic() < deadline:
        check_children()
        if sql(query, log="nova-compute-report").strip() not in ("", "0"):
            say("nova: compute host testbed reported in")
            return
        time.sleep(1)
    say(f"FAILED: nova-compute did not report within {timeout:.0f}s (see {LOGS}/nova-compute.out)")
    sys.exit(1)


def start_baked(baked: dict[str, str]) -> None:
    """A start from the baked image: no set-up, every service at once."""
    start_mariadb(create=False)
    since = sql("SELECT UTC_TIMESTAMP();").strip()
    retarget_endpoints(int(baked["port_base"]))
    uwsgi("keystone", "/usr/bin/keystone-wsgi-public", PORTS["keystone"])
    wait_port("rabbitmq", 5672)
    start_services(before_compute=("keystone",))
    wait_compute_reported(since)


def stop_all(timeout: float = 120) -> None:
    """Stop every service (SIGTERM to its process group; MariaDB and RabbitMQ shut down cleanly)."""
    for name in reversed(list(children)):
        child = children[name]
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
    children.clear()


def discover_hosts(timeout: float = 120) -> None:
    """Map the fake compute node into cell1 once nova-compute has registered it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_children()
        run("nova-manage", "cell_v2", "discover_hosts", "--verbose", log="nova-manage")
        if "testbed" in run("nova-manage", "cell_v2", "list_hosts", log="nova-manage"):
            say("nova: compute host testbed mapped to cell1")
            return
        time.sleep(2)
    say(f"FAILED: nova-compute did not register within {timeout:.0f}s (see {LOGS}/nova-compute.out)")
    sys.exit(1)


def main(bake: bool = False) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    READY.unlink(missing_ok=True)
    write_configs()
    install_neutron_stand_ins()
    start_rabbitmq()
    if BAKED.is_file() and not bake:
        start_baked(json.loads(BAKED.read_text()))
    else:
        start_mariadb()
        sync_others()
        wait_port("rabbitmq", 5672)
        start_services()
        discover_hosts()
    if bake:
        stop_all()
        BAKED.write_text(json.dumps({"port_base": BASE, "baked_in": f"{time.monotonic() - started:.0f}"}))
        shutil.rmtree(LOGS, ignore_errors=True)
        say("BAKED")
        return
    READY.write_text(f"{time.monotonic() - started:.1f}\n")
    say("READY")
    while True:
        check_children()
        time.sleep(2)


if __name__ == "__main__":
    {
        "sync-nova": sync_nova,
        "register-services": register_services,
        "bake": lambda: main(bake=True),
    }.get(sys.argv[-1], main)()
