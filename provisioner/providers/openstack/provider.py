"""prodserver, devserver and the worker machines on OpenStack, through openstacksdk's cloud layer.

Credentials are the ecosystem's: ``openstack.connect(cloud=NAME)`` reads clouds.yaml, ``OS_CLOUD`` or the
``OS_*`` variables of an RC file (password or application credential). What ``up`` does, in order:

1. keypair ``<key_name>`` from the user's public key (reused when it holds the same key);
2. security groups ``<prefix>-prodserver`` (22 and 5100 from ``allowed_cidr``, both from devserver, and
   RabbitMQ's 5672 from the workers' group only) and ``<prefix>-devserver`` (22 from ``allowed_cidr`` and
   from prodserver); with workers, ``<prefix>-workers`` (22 from prodserver's group, nothing from
   ``allowed_cidr``);
3. servers ``<prefix>-prodserver``, ``<prefix>-devserver`` and ``<prefix>-worker-1..N``: ACTIVE ones are
   reused (no POST), missing ones are all requested before any is waited for, so they build concurrently;
   a server in ERROR is reported with Nova's fault message, deleted, and the run fails;
4. a floating IP for prodserver (the one on its port, a free one this deployment recorded, else a new
   one; none when the server's own address is public), and for devserver only with
   ``devserver_floating_ip`` -- otherwise devserver is reached through prodserver. Workers never get
   one: they are reached through prodserver;
5. the servers' SSH host keys, read from their console logs where cloud-init printed them, pinned in the
   project's known_hosts (console_keys; ``--host-keys``);
6. SSH and cloud-init (provisioner.wait).

Workers numbered above N are left alone by ``up``; the launcher drains them (``surplus``), then deletes
them (``remove_workers``), highest first. N None (``workers`` not set) keeps the worker servers that
exist (``fleet.resolve``).

Everything created is recorded at once in ``<state_dir>/openstack-<cloud>-<hash>-<prefix>.json``;
``down`` deletes only that (and servers carrying this deployment's id), so nobody else's resources are
ever removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from provisioner import cloudinit, fleet, keys, ssh
from provisioner.errors import ConfigError, ProviderError, WaitTimeout
from provisioner.fleet import Slot
from provisioner.machine import ROLES, WORKER_ROLE, Machine
from provisioner.providers.openstack import connection, console_keys, preflight, security_groups
from provisioner.providers.openstack import floating as floating_ips
from provisioner.providers.openstack.cloud_errors import cloud_errors
from provisioner.providers.openstack.security_groups import CIDR_PORTS, GROUPS, PEER_PORTS
from provisioner.settings import Settings
from provisioner.state import StateFile
from provisioner.wait import say, wait_for_machines

if TYPE_CHECKING:
    from openstack.connection import Connection

Out = Callable[[str], None]
Waiter = Callable[..., None]

META_PREFIX = "mlstack_prefix"
META_ROLE = "mlstack_role"
META_DEPLOYMENT = "mlstack_deployment"
META_USER = "mlstack_user"
# existing servers: states that end in ACTIVE by themselves, and those the launcher brings back
WAIT_STATES = frozenset({"BUILD", "REBOOT", "HARD_REBOOT", "MIGRATING", "RESIZE", "REVERT_RESIZE", "REBUILD"})
RESUME_ACTIONS: dict[str, tuple[str, str]] = {
    "SHUTOFF": ("starting it", "start_server"),
    "SHELVED": ("unshelving it", "unshelve_server"),
    "SHELVED_OFFLOADED": ("unshelving it", "unshelve_server"),
    "SUSPENDED": ("resuming it", "resume_server"),
    "PAUSED": ("unpausing it", "unpause_server"),
    "VERIFY_RESIZE": ("confirming its resize (Nova waits for that)", "confirm_server_resize"),
}


def _addresses(server: Any) -> tuple[str | None, str | None]:
    """(fixed IPv4, floating IPv4) from Nova's addresses."""
    fixed = floating = None
    for entries in (server.addresses or {}).values():
        for entry in entries:
            if entry.get("version", 4) != 4:
                continue
            if entry.get("OS-EXT-IPS:type") == "floating":
                floating = floating or entry.get("addr")
            else:
                fixed = fixed or entry.get("addr")
    return fixed, floating


def _is_public(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def _fault(server: Any) -> str:
    fault = getattr(server, "fault", None) or {}
    message = fault.get("message") if isinstance(fault, dict) else None
    details = fault.get("details") if isinstance(fault, dict) else None
    text = message or "Nova gave no fault message"
    if details and details != message and len(str(details)) < 300:
        text += f" ({details})"
    return text


def require_allowed_cidr(settings: Settings) -> None:
    """On a cloud, SSH and the app are opened to ``allowed_cidr`` only when the user has said which."""
    if settings.allowed_cidr is None:
        raise ConfigError(
            "on OpenStack, say who may reach SSH (22) and the app (5100): --allowed-cidr is not set",
            "give your own address (--allowed-cidr 203.0.113.7/32; `curl -s https://ifconfig.me` shows it), "
            "your network (--allowed-cidr 192.0.2.0/24), or --allowed-cidr 0.0.0.0/0 to open them to "
            "everyone; MLSTACK_ALLOWED_CIDR or `allowed_cidr:` in mlstack.yml work too",
        )


class OpenStackProvider:
    """The Provider protocol on an OpenStack cloud."""

    def __init__(
        self,
        connect: Callable[[Settings], Connection] | None = None,
        waiter: Waiter = wait_for_machines,
        out: Out = say,
        poll_interval: float = 5.0,
    ) -> None:
        self._connect_fn = connect or self._connect
        self.waiter = waiter
        self.out = out
        self.poll_interval = poll_interval

    @staticmethod
    def check_settings(settings: Settings) -> None:
        """What bringing the machines up needs from the settings, checked before the first request."""
        require_allowed_cidr(settings)

    # ---- connection and state -------------------------------------------------------------------

    def _connect(self, settings: Settings) -> Connection:
        return connection.connect(settings, self.out)

    def connect(self, settings: Settings) -> Connection:
        """An authorised Connection (errors become LauncherErrors)."""
        with cloud_errors(settings):
            return self._connect_fn(settings)

    @staticmethod
    def state_file(settings: Settings, conn: Connection) -> StateFile:
        """``<state_dir>/openstack-<cloud>-<hash of auth_url and project>-<prefix>.json``: one per cloud,
        project and prefix, so the same prefix on two clouds never mixes their records. A state file of
        the launcher before this naming (``openstack-<prefix>.json``) of the same cloud is taken over."""
        auth = str((conn.config.config.get("auth") or {}).get("auth_url") or "")
        digest = hashlib.sha256(f"{auth}|{conn.current_project_id}".encode()).hexdigest()[:8]
        label = re.sub(r"[^A-Za-z0-9_.-]+", "-", settings.cloud or "env")
        path = settings.state_dir / f"openstack-{label}-{digest}-{settings.prefix}.json"
        legacy = settings.state_dir / f"openstack-{settings.prefix}.json"
        if not path.exists() and legacy.is_file():
            old = StateFile(legacy)
            if old.data.get("cloud") == settings.cloud:
                legacy.replace(path)
        return StateFile(path)

    # ---- lookups ----------------------------------------------------------------------------------

    def _get_server(self, conn: Connection, name: str) -> Any:
        return conn.get_server(name, bare=True)

    def _servers_by_name(self, conn: Connection, settings: Settings) -> dict[str, Any]:
        """The project's servers whose names start with ``<prefix>-``, by name (one list call)."""
        pattern = f"^{re.escape(settings.prefix)}-"
        return {
            server.name: server
            for server in conn.compute.servers(details=True, name=pattern)
            if (server.name or "").startswith(f"{settings.prefix}-")
        }

    def _existing_workers(self, conn: Connection, settings: Settings) -> dict[int, Any]:
        """The servers named ``<prefix>-worker-<n>`` in the project, by n (one list call)."""
        pattern = f"^{re.escape(settings.prefix)}-worker-"
        found: dict[int, Any] = {}
        for server in conn.compute.servers(details=True, name=pattern):
            number = fleet.worker_number(settings.prefix, server.name or "")
            if number is not None:
                found[number] = server
        return found

    @staticmethod
    def _is_ours(settings: Settings, state: StateFile, slot: Slot, server: Any) -> bool:
        """Recorded in this deployment's state file, or tagged with its deployment id (never: named like
        ours, or tagged with our prefix only -- a colleague with the same prefix has those too)."""
        deployment = state.data.get("deployment")
        return state.section("servers").get(slot.hostname) == server.id or (
            bool(deployment) and (server.metadata or {}).get(META_DEPLOYMENT) == deployment
        )

    def _refuse_foreign(self, conn: Connection, settings: Settings, state: StateFile) -> None:
        """Stop, before anything is created, when a server or security group with one of our names exists
        that this deployment did not make (a colleague's, or another checkout's)."""
        foreign: list[str] = []
        existing = self._existing_workers(conn, settings)
        slots = {slot: self._get_server(conn, slot.name) for slot in fleet.servers(settings)}
        slots.update({fleet.worker(settings, n): server for n, server in existing.items()})
        for slot, server in slots.items():
            if server is not None and not self._is_ours(settings, state, slot, server):
                meta = server.metadata or {}
                owner = meta.get(META_USER) or getattr(server, "user_id", None) or "?"
                foreign.append(
                    f"server {server.name} (user {owner}, deployment {meta.get(META_DEPLOYMENT, '-')})"
                )
        groups = security_groups.foreign(conn, settings, state)
        if foreign or groups:
            hints = []
            if foreign:
                hints.append(
                    "choose another --prefix; if they are yours from another checkout, run there or copy "
                    "its state file here"
                )
            if groups:
                hints.append(security_groups.FOREIGN_GROUP_HINT)
            raise ConfigError(
                f"{'; '.join(foreign + groups)}: named like this deployment's, but not made by it "
                f"(prefix {settings.prefix!r}, state file {state.path}); nothing was changed",
                "; ".join(hints),
            )

    @staticmethod
    def _deployment(state: StateFile, conn: Connection) -> str:
        """This deployment's id (kept in the state file; saved with the first thing recorded)."""
        deployment = state.data.get("deployment")
        if not isinstance(deployment, str) or not deployment:
            deployment = state.data["deployment"] = uuid.uuid4().hex
        state.data.setdefault("user_id", conn.current_user_id)
        return deployment

    def _preflight(self, conn: Connection, settings: Settings) -> preflight.Checked:
        """Image, flavor, network, the external network and the quota for what this run creates."""
        named = self._servers_by_name(conn, settings)
        existing = {slot: named.get(slot.name) for slot in fleet.wanted(settings)}
        by_role = {slot.role: server for slot, server in existing.items() if not slot.is_worker}

        def lacks_floating_ip(server: Any) -> bool:
            return settings.access != "fixed" and (server is None or not _addresses(server)[1])

        needs_floating_ip = lacks_floating_ip(by_role.get("prodserver")) or (
            settings.devserver_floating_ip and lacks_floating_ip(by_role.get("devserver"))
        )
        missing = sum(1 for server in existing.values() if server is None)
        return preflight.check(conn, settings, missing, needs_floating_ip, self.out)

    # ---- keypair and security groups -------------------------------------------------------------

    def _ensure_keypair(self, conn: Connection, settings: Settings, state: StateFile) -> None:
        name = settings.keypair_name
        public = keys.public_key_text(settings)
        existing = conn.get_keypair(name)
        if existing is not None:
            if (existing.public_key or "").split()[:2] != public.split()[:2]:
                raise ConfigError(
                    f"keypair {name!r} already exists on the cloud with a different public key",
                    f"pass --key-name with another name, or --public-key {name}'s key",
                )
            self.out(f"  keypair        {name}: reused")
            return
        conn.create_keypair(name, public_key=public)
        state.record("created", "keypair", name)
        self.out(f"  keypair        {name}: created from {settings.public_key}")

    # ---- servers ------------------------------------------------------------------------------------

    def _delete_errored(
        self, conn: Connection, settings: Settings, slot: Slot, server: Any, state: StateFile
    ) -> None:
        fault = _fault(server)
        self.out(f"  {slot.hostname:<11} ERROR: {fault}; deleting {slot.name}")
        conn.delete_server(server.id, wait=True, timeout=settings.server_timeout)
        state.forget("servers", slot.hostname)
        raise ProviderError(
            f"server {slot.name} went to ERROR; Nova says: {fault}",
            "it has been deleted; run again to retry (another --flavor or --image if the fault names them); "
            f"what was created is recorded in {state.path} and removed with --destroy",
        )

    @staticmethod
    def _server_options(settings: Settings, checked: preflight.Checked) -> dict[str, Any]:
        """create_server's options for a real cloud: config drive, availability zone, boot volume."""
        options: dict[str, Any] = {}
        if settings.config_drive:
            options["config_drive"] = True
        if settings.availability_zone:
            options["availability_zone"] = settings.availability_zone
        if checked.boot_from_volume:
            options.update(boot_from_volume=True, volume_size=settings.volume_size, terminate_volume=True)
        return options

    def _create_server(
        self,
        conn: Connection,
        settings: Settings,
        state: StateFile,
        slot: Slot,
        image: Any,
        flavor: Any,
        network: Any,
        checked: preflight.Checked,
        group: Any,
    ) -> Any:
        userdata = cloudinit.render(slot.role, keys.public_key_text(settings))
        meta = {
            META_PREFIX: settings.prefix,
            META_ROLE: slot.role,
            META_DEPLOYMENT: state.data["deployment"],
            META_USER: str(conn.current_user_id),
        }
        server = conn.create_server(
            slot.name,
            image=image,
            flavor=flavor,
            network=network,
            key_name=settings.keypair_name,
            userdata=userdata,
            security_groups=[group.id],  # by id: another group may have the same name
            meta=meta,
            auto_ip=False,
            wait=False,
            **self._server_options(settings, checked),
        )
        self.out(
            f"  {slot.hostname:<11} {slot.name}: requested "
            f"(image {image.name}, flavor {flavor.name}, network {network.name})"
        )
        return server

    def _wait_active(
        self, conn: Connection, settings: Settings, ids: dict[Slot, str], state: StateFile
    ) -> dict[Slot, Any]:
        from openstack import exceptions as sdk

        start = time.monotonic()
        last: dict[Slot, str] = {}
        last_line = 0.0
        ready: dict[Slot, Any] = {}
        pending = dict(ids)
        while pending:
            elapsed = time.monotonic() - start
            for slot, server_id in list(pending.items()):
                try:
                    server = conn.compute.get_server(server_id)
                except sdk.NotFoundException:
                    state.forget("servers", slot.hostname)
                    raise ProviderError(
                        f"server {slot.name} disappeared while it was being built",
                        "run again to create it anew",
                    ) from None
                task = getattr(server, "task_state", None)
                label = server.status + (f" ({task})" if task else "")
                if label != last.get(slot) or elapsed - last_line >= 15:
                    self.out(f"  {slot.hostname:<11} {slot.name}: {label} ({elapsed:.0f}s)")
                    last[slot] = label
                if server.status == "ACTIVE":
                    ready[slot] = server
                    del pending[slot]
                elif server.status == "ERROR":
                    self._delete_errored(conn, settings, slot, server, state)
            if elapsed - last_line >= 15:
                last_line = elapsed
            if not pending:
                break
            if elapsed >= settings.server_timeout:
                waiting = ", ".join(f"{slot.name} ({last.get(slot, '?')})" for slot in pending)
                raise WaitTimeout(
                    f"servers not ACTIVE after {settings.server_timeout:.0f}s: {waiting}",
                    "look at them with `openstack server show NAME` and `openstack console log show NAME`; "
                    "run again to keep waiting (nothing is created twice), or --destroy",
                )
            time.sleep(self.poll_interval)
        return ready

    def _bring_back(self, conn: Connection, slot: Slot, server: Any) -> None:
        """An existing server on its way to ACTIVE: reused when ACTIVE, waited on in a transient state,
        started, unshelved, resumed, unpaused or its resize confirmed; otherwise a ProviderError."""
        status = str(server.status)
        label = f"  {slot.hostname:<11} {server.name}: {status}"
        if status == "ACTIVE":
            self.out(f"{label}: reused")
        elif status in WAIT_STATES:
            self.out(f"{label}: waiting for it to become ACTIVE")
        elif status in RESUME_ACTIONS:
            what, method = RESUME_ACTIONS[status]
            self.out(f"{label}: {what}")
            getattr(conn.compute, method)(server)
        else:
            raise ProviderError(
                f"server {server.name} is {status}; the launcher reuses ACTIVE servers and brings back "
                f"{', '.join(sorted([*WAIT_STATES, *RESUME_ACTIONS]))}",
                "look at it with `openstack server show`; bring it back to ACTIVE, or remove it with "
                "--destroy",
            )

    def _servers_up(
        self,
        conn: Connection,
        settings: Settings,
        state: StateFile,
        checked: preflight.Checked,
        groups: dict[str, Any],
    ) -> tuple[dict[Slot, Any], set[str]]:
        """ACTIVE servers for every wanted slot, and the names of those created in this run."""
        slots = fleet.wanted(settings)
        named = self._servers_by_name(conn, settings)  # one list call, however many workers
        existing = {slot: named.get(slot.name) for slot in slots}
        for slot, server in existing.items():
            if server is not None and server.status == "ERROR":
                self._delete_errored(conn, settings, slot, server, state)
        ids: dict[Slot, str] = {}
        created: set[str] = set()
        missing = [slot for slot in slots if existing[slot] is None]
        if missing:
            image, flavor, network = checked.image, checked.flavor, checked.network
            for slot in missing:
                group = groups[slot.role]
                server = self._create_server(
                    conn, settings, state, slot, image, flavor, network, checked, group
                )
                state.record("servers", slot.hostname, server.id)
                ids[slot] = server.id
                created.add(slot.name)
        for slot, server in existing.items():
            if server is None:
                continue
            self._bring_back(conn, slot, server)
            ids[slot] = server.id
        active = self._wait_active(conn, settings, ids, state)
        return {slot: active[slot] for slot in slots}, created

    # ---- floating IPs -------------------------------------------------------------------------------

    def _public_address(
        self,
        conn: Connection,
        settings: Settings,
        role: str,
        server: Any,
        state: StateFile,
        fips: list[Any],
        external: Any = None,
    ) -> str:
        """The server's floating IP (found by its port), its own address when public, or a floating IP
        this deployment recorded or allocates now."""
        fixed, _ = _addresses(server)
        if settings.access == "fixed":  # reached on its own network (VPN, provider network)
            if not fixed:
                raise ProviderError(f"server {server.name} has no IPv4 address")
            return str(fixed)
        ports = floating_ips.server_ports(conn, server)
        bound = floating_ips.attached(fips, ports)
        if bound is not None:
            return str(bound.floating_ip_address)
        if settings.access == "auto" and _is_public(fixed):
            return str(fixed)
        return floating_ips.ensure(conn, settings, state, role, server, fips, self.out, external)

    @staticmethod
    def _network_mtu(conn: Connection, servers: dict[Slot, Any]) -> int | None:
        """The MTU of prodserver's network (Neutron's ``mtu``), or None when the cloud does not say."""
        prod = next(server for slot, server in servers.items() if slot.role == "prodserver")
        ports = floating_ips.server_ports(conn, prod)
        if not ports:
            return None
        mtu = conn.network.get_network(ports[0].network_id).mtu
        return int(mtu) if mtu else None

    def _behind_prodserver(
        self, settings: Settings, server: Any, role: str, jump_host: str | None, **extra: str
    ) -> Machine:
        """The record of a machine reached through prodserver; devserver is reached at its own public
        address when it has one. Workers always go through prodserver: their security group lets SSH in
        from prodserver's group only."""
        fixed, floating = _addresses(server)
        direct = floating or _is_public(fixed) or (settings.access == "fixed" and fixed)
        if role != WORKER_ROLE and direct:
            address, jump = str(floating or fixed), None
        else:
            if not fixed:
                raise ProviderError(f"server {server.name} has no IPv4 address")
            if jump_host is None:
                raise ProviderError(
                    f"server {server.name} is reached through prodserver, which has no public address",
                    "run the launcher again so that prodserver exists and has a floating IP, or --destroy",
                )
            address, jump = fixed, f"{settings.ssh_user}@{jump_host}:22"
        return Machine(
            name=server.name,
            role=role,
            address=address,
            user=settings.ssh_user,
            key_path=settings.private_key,
            private_address=fixed or address,
            proxy_jump=jump,
            extra=dict(extra),
        )

    def _machines(
        self,
        conn: Connection,
        settings: Settings,
        servers: dict[Slot, Any],
        state: StateFile,
        external: Any = None,
    ) -> list[Machine]:
        fips = list(conn.network.ips(project_id=conn.current_project_id))
        by_role = {slot.role: server for slot, server in servers.items() if not slot.is_worker}
        prod = by_role["prodserver"]
        prod_public = self._public_address(conn, settings, "prodserver", prod, state, fips, external)
        machines = [
            Machine(
                name=prod.name,
                role="prodserver",
                address=prod_public,
                user=settings.ssh_user,
                key_path=settings.private_key,
                private_address=_addresses(prod)[0] or prod_public,
            )
        ]
        dev = by_role["devserver"]
        if settings.devserver_floating_ip:
            dev_address = self._public_address(conn, settings, "devserver", dev, state, fips, external)
            machines.append(
                Machine(
                    name=dev.name,
                    role="devserver",
                    address=dev_address,
                    user=settings.ssh_user,
                    key_path=settings.private_key,
                    private_address=_addresses(dev)[0] or dev_address,
                )
            )
        else:
            machines.append(self._behind_prodserver(settings, dev, "devserver", prod_public))
        for slot, server in servers.items():
            if slot.is_worker:
                machines.append(self._behind_prodserver(settings, server, WORKER_ROLE, prod_public))
        return machines

    def _jump_host(self, conn: Connection, settings: Settings) -> str | None:
        """prodserver's public address (floating, or its own when public), or None."""
        prod = self._get_server(conn, settings.server_name("prodserver"))
        if prod is None:
            return None
        bound = floating_ips.attached(conn.network.ips(), floating_ips.server_ports(conn, prod))
        if bound is not None:
            return str(bound.floating_ip_address)
        fixed, _ = _addresses(prod)
        return fixed if _is_public(fixed) or settings.access == "fixed" else None

    # ---- the Provider verbs -------------------------------------------------------------------------

    def up(self, settings: Settings) -> list[Machine]:
        """Create or reuse everything, wait until every machine is ready; the Machine records (prodserver,
        devserver, worker-1..N)."""
        require_allowed_cidr(settings)
        conn = self.connect(settings)  # credentials first: no key is generated for a run that cannot start
        settings = keys.resolve(settings)
        state = self.state_file(settings, conn)
        state.data.setdefault("cloud", settings.cloud)
        with cloud_errors(settings):
            deployment = self._deployment(state, conn)
            self.out(
                f"OpenStack {settings.cloud or '(OS_CLOUD / OS_* variables)'}: "
                f"project {conn.current_project_id}, user {conn.current_user_id}, deployment {deployment}"
            )
            self._refuse_foreign(conn, settings, state)
            settings = fleet.resolve(settings, self._existing_workers(conn, settings))
            checked = self._preflight(conn, settings)  # nothing is created before this passes
            self._ensure_keypair(conn, settings, state)
            groups = security_groups.ensure(conn, settings, state, self.out)
            servers, created = self._servers_up(conn, settings, state, checked, groups)
            machines = self._machines(conn, settings, servers, state, checked.floating_network)
            mtu = self._network_mtu(conn, servers)
            if mtu:  # for Docker Engine's daemon options (provisioner.netvars)
                machines = [dataclasses.replace(m, extra={**m.extra, "mtu": str(mtu)}) for m in machines]
            by_name = {server.name: server for server in servers.values()}
            machines = console_keys.pin_machines(
                conn, settings, machines, by_name, created, self.out, self.poll_interval
            )
        self.waiter(machines, settings, new=created, progress=self.out)
        return machines

    def surplus(self, settings: Settings) -> list[Machine]:
        """The worker servers numbered above ``settings.workers``, highest first, reached through
        prodserver (``extra["running"]`` is "no" unless ACTIVE)."""
        conn = self.connect(settings)
        state = self.state_file(settings, conn)
        with cloud_errors(settings):
            existing = {
                n: server
                for n, server in self._existing_workers(conn, settings).items()
                if self._is_ours(settings, state, fleet.worker(settings, n), server)
            }
            numbers = fleet.surplus(fleet.resolve(settings, existing), existing)
            if not numbers:
                return []
            jump = self._jump_host(conn, settings)
            return [
                self._behind_prodserver(
                    settings,
                    existing[n],
                    WORKER_ROLE,
                    jump,
                    status=str(existing[n].status),
                    running="yes" if existing[n].status == "ACTIVE" else "no",
                )
                for n in numbers
            ]

    def remove_workers(self, settings: Settings, machines: list[Machine]) -> None:
        """Delete these worker servers, in this order (only those the launcher made)."""
        conn = self.connect(settings)
        state = self.state_file(settings, conn)
        with cloud_errors(settings):
            for machine in machines:
                slot = fleet.slot_for(settings, machine.name)
                if slot is None or not slot.is_worker:
                    raise ProviderError(f"{machine.name} is not a worker machine of prefix {settings.prefix}")
                if self._delete_ours(conn, settings, state, slot):
                    self.out(f"  {slot.hostname:<11} deleted server {slot.name}")

    def _delete_ours(self, conn: Connection, settings: Settings, state: StateFile, slot: Slot) -> str | None:
        """Delete the server of ``slot`` when the launcher made it; what was removed, for the report."""
        server = self._get_server(conn, slot.name)
        if server is None:
            state.forget("servers", slot.hostname)
            return None
        if not self._is_ours(settings, state, slot, server):
            self.out(f"  {server.name}: not created by this launcher, left alone")
            return None
        fixed, floating = _addresses(server)
        conn.delete_server(server.id, wait=True, timeout=settings.server_timeout)
        state.forget("servers", slot.hostname)
        for address in (fixed, floating):
            if address:
                ssh.forget(settings.known_hosts, address)
        return f"server {server.name}"

    def down(self, settings: Settings) -> None:
        """Delete the servers (workers first, highest first), then the floating IPs, keypair and security
        groups this launcher created."""
        conn = self.connect(settings)
        state = self.state_file(settings, conn)
        removed: list[str] = []
        with cloud_errors(settings):
            numbers = set(self._existing_workers(conn, settings))
            for hostname in state.section("servers"):  # recorded, but perhaps renamed or hidden meanwhile
                number = fleet.worker_number(settings.prefix, settings.server_name(hostname))
                if number is not None:
                    numbers.add(number)
            slots = [fleet.worker(settings, n) for n in sorted(numbers, reverse=True)]
            for slot in slots + fleet.servers(settings):
                what = self._delete_ours(conn, settings, state, slot)
                if what:
                    removed.append(what)
            for fip_id, address in list(state.section("floating_ips").items()):
                if conn.delete_floating_ip(fip_id):
                    removed.append(f"floating IP {address}")
                    ssh.forget(settings.known_hosts, str(address))
                state.forget("floating_ips", fip_id)
            keypair = state.section("created").get("keypair")
            if keypair:
                if conn.delete_keypair(keypair):
                    removed.append(f"keypair {keypair}")
                state.forget("created", "keypair")
            for role, group_id in list(state.section("security_groups").items()):
                if conn.delete_security_group(group_id):
                    removed.append(f"security group {settings.server_name(role)}")
                state.forget("security_groups", role)
        state.remove()
        if removed:
            for item in removed:
                self.out(f"  removed {item}")
        else:
            self.out("  nothing to remove")

    def status(self, settings: Settings) -> list[Machine]:
        """The servers that exist for the prefix, workers included (status in ``extra['status']``)."""
        conn = self.connect(settings)
        machines: list[Machine] = []
        with cloud_errors(settings):
            found = [(role, self._get_server(conn, settings.server_name(role))) for role in ROLES]
            workers = self._existing_workers(conn, settings)
            found += [(WORKER_ROLE, workers[n]) for n in sorted(workers)]
            for role, server in found:
                if server is None:
                    continue
                fixed, floating = _addresses(server)
                machines.append(
                    Machine(
                        name=server.name,
                        role=role,
                        address=floating or fixed or "-",
                        user=settings.ssh_user,
                        key_path=settings.private_key,
                        private_address=fixed,
                        extra={"status": str(server.status)},
                    )
                )
        return machines

    def plan(self, settings: Settings) -> list[str]:
        """What up (or down, with settings.destroy) would do; reads the cloud, changes nothing."""
        conn = self.connect(settings)
        state = self.state_file(settings, conn)
        with cloud_errors(settings):
            return (
                self._plan_down(conn, settings, state)
                if settings.destroy
                else self._plan_up(conn, settings, state)
            )

    def _plan_up(self, conn: Connection, settings: Settings, state: StateFile) -> list[str]:
        require_allowed_cidr(settings)
        self._refuse_foreign(conn, settings, state)
        settings = fleet.resolve(settings, self._existing_workers(conn, settings))
        lines: list[str] = []
        name = settings.keypair_name
        existing_key = conn.get_keypair(name)
        key_source = settings.public_key or "the user's key or a new project key under .ssh/"
        lines.append(f"keypair {name}: " + ("reuse" if existing_key else f"create from {key_source}"))
        ours = {role: security_groups.split(conn, settings, state, role)[0] for role in GROUPS}
        with_workers = bool(settings.workers) or ours[WORKER_ROLE] is not None
        for role in GROUPS:
            if role == WORKER_ROLE and not with_workers:
                continue
            group = settings.server_name(role)
            verb = "reuse" if ours[role] is not None else "create"
            opened = []
            if CIDR_PORTS[role]:
                opened.append(f"tcp {', '.join(map(str, CIDR_PORTS[role]))} from {settings.allowed_cidr}")
            for peer, ports in PEER_PORTS[role]:
                if peer != WORKER_ROLE or with_workers:
                    opened.append(f"tcp {', '.join(map(str, ports))} from {settings.server_name(peer)}")
            lines.append(f"security group {group}: {verb} ({'; '.join(opened)})")
        to_create: list[Slot] = []
        for slot in fleet.wanted(settings):
            server = self._get_server(conn, slot.name)
            if server is None:
                to_create.append(slot)
            elif server.status == "ERROR":
                lines.append(
                    f"server {server.name}: in ERROR ({_fault(server)}): would be deleted and reported"
                )
            else:
                lines.append(f"server {server.name}: reuse ({server.status})")
        if to_create:
            notes: list[str] = []
            checked = preflight.check(conn, settings, len(to_create), False, notes.append)
            image, flavor, network = checked.image, checked.flavor, checked.network
            lines += [note.strip() for note in notes]
            for slot in to_create:
                lines.append(
                    f"server {slot.name}: create (image {image.name}, flavor {flavor.name}, "
                    f"network {network.name}, cloud-init {cloudinit.TEMPLATES[slot.role]})"
                )
        existing = self._existing_workers(conn, settings)
        for number in fleet.surplus(settings, existing):
            lines.append(
                f"server {existing[number].name}: drain, then delete (workers={settings.workers}; "
                "the highest-numbered go first)"
            )
        recorded = [f for f in conn.network.ips() if f.id in state.section("floating_ips") and not f.port_id]
        fip_plan = (
            f"reuse {recorded[0].floating_ip_address} (recorded by this deployment)"
            if recorded
            else "allocate one from the external network its router reaches"
        )
        lines.append(f"floating IP for prodserver: keep the one on its port, else {fip_plan}")
        lines.append(
            "devserver: "
            + ("a floating IP too" if settings.devserver_floating_ip else "reached through prodserver")
        )
        if settings.workers:
            lines.append("workers: no floating IP, reached through prodserver")
        return lines

    def _plan_down(self, conn: Connection, settings: Settings, state: StateFile) -> list[str]:
        lines = []
        workers = self._existing_workers(conn, settings)
        slots = [(fleet.worker(settings, n), workers[n]) for n in sorted(workers, reverse=True)]
        slots += [(slot, self._get_server(conn, slot.name)) for slot in fleet.servers(settings)]
        for slot, server in slots:
            if server is None:
                continue
            if self._is_ours(settings, state, slot, server):
                lines.append(f"delete server {server.name} ({server.status})")
            else:
                lines.append(f"leave server {server.name} alone: not made by this deployment")
        for address in state.section("floating_ips").values():
            lines.append(f"delete floating IP {address}")
        if state.section("created").get("keypair"):
            lines.append(f"delete keypair {state.section('created')['keypair']}")
        for role in state.section("security_groups"):
            lines.append(f"delete security group {settings.server_name(role)}")
        return lines or ["nothing to remove"]
