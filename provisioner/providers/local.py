"""Local machines: prodserver, devserver and worker machines as systemd containers on the local Docker Engine.

Each machine boots systemd, sshd and cloud-init from the machine image (machine-image/, built by
machine-image/build.sh); cloud-init reads the same cloud-init/*.yaml as on OpenStack from a NoCloud seed
directory (``<state_dir>/local/<name>/seed``, mounted read-only at /var/lib/cloud/seed/nocloud), so appuser
and the key are made by cloud-init itself. What the provider makes for a prefix, and nothing else:

- containers ``<prefix>-prodserver`` / ``<prefix>-devserver`` / ``<prefix>-worker-<n>`` (n = 1..workers)
  labelled ``org.mlstack.prefix`` and ``org.mlstack.role`` (prodserver, devserver, workers), on the network
  ``<prefix>-net`` with the aliases ``prodserver`` / ``devserver`` / ``worker-<n>`` (a worker's
  ``private_address`` is that alias);
- volumes ``<prefix>-<hostname>-docker`` on /var/lib/docker (Docker Engine runs inside prodserver and the
  workers);
- SSH published on 127.0.0.1 (``local_ssh_port_base`` + the machine's index when free, else any free port:
  0 prodserver, 1 devserver, 1 + n worker-n), prodserver's 5100 on 127.0.0.1 (``local_app_port`` when free,
  else any free port); a setting of 0 means any free port. Ports are kept for the container's life: a
  re-run reads them back from the container.

Workers numbered above ``settings.workers`` are not touched by ``up``: the launcher drains them
(``surplus``) and then removes them with their volume (``remove_workers``), highest first. With
``settings.workers`` None, the worker machines that exist are kept (``fleet.resolve``).

The containers run without --privileged, with an explicit capability set (``RUN_FLAGS``).

Host keys: once SSH answers, the keys cloud-init printed (``keys_to_console``; a container's console text
is its /var/log/cloud-init-output.log, read with ``docker exec``) are pinned in the project's known_hosts
before the first SSH connection, which then uses StrictHostKeyChecking=yes (provisioner/hostkeys.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioner import docker_cli, fleet, hostkeys, ssh, wait
from provisioner.errors import LauncherError, ProviderError, WaitTimeout
from provisioner.fleet import Slot
from provisioner.machine import ROLES, WORKER_ROLE, Machine
from provisioner.settings import REPO_ROOT, Settings

Progress = Callable[[str], None]

SSH_PORT = 22
APP_PORT = 5100
APP_ROLE = "prodserver"
LOOPBACK = "127.0.0.1"
SEED_MOUNT = "/var/lib/cloud/seed/nocloud"
CLOUD_INIT_OUTPUT = "/var/log/cloud-init-output.log"
IMAGE_BUILDER = REPO_ROOT / "machine-image" / "build.sh"
OWN_IMAGE_REPOSITORY = "mlstack/machine"
LABEL_PREFIX = "org.mlstack.prefix"
LABEL_ROLE = "org.mlstack.role"
_PORT_TAKEN = ("port is already allocated", "address already in use")
OUR_ROLES = (*ROLES, WORKER_ROLE)

# A systemd container without --privileged (which some hosts refuse): every capability but SYS_RESOURCE,
# no seccomp/AppArmor confinement, all devices, the host's cgroup tree (cgroup v1 and v2 hosts), tmpfs on
# /run. The image sets STOPSIGNAL SIGRTMIN+3 so `docker stop` shuts systemd down cleanly.
RUN_FLAGS = (
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt",
    "seccomp=unconfined",
    "--security-opt",
    "apparmor=unconfined",
    "--device-cgroup-rule=a *:* rwm",
    "--cgroupns=host",
    "--volume",
    "/sys/fs/cgroup:/sys/fs/cgroup:rw",
    "--tmpfs",
    "/run",
    "--tmpfs",
    "/run/lock",
)


def network_name(prefix: str) -> str:
    """``<prefix>-net``: the machines' private network."""
    return f"{prefix}-net"


def volume_name(prefix: str, hostname: str) -> str:
    """``<prefix>-<hostname>-docker`` (``mlstack-prodserver-docker``, ``mlstack-worker-2-docker``): the
    machine's /var/lib/docker."""
    return f"{prefix}-{hostname}-docker"


def machine_dir(settings: Settings, name: str) -> Path:
    """``<state_dir>/local/<name>``: what the provider keeps on the controller for one machine."""
    return settings.state_dir / "local" / name


def seed_dir(settings: Settings, name: str) -> Path:
    """The NoCloud seed directory mounted into the machine."""
    return machine_dir(settings, name) / "seed"


def meta_data(name: str, hostname: str, user_data: str) -> str:
    """NoCloud meta-data: an instance-id that changes with the user-data, and the hostname."""
    digest = hashlib.sha256(user_data.encode("utf-8")).hexdigest()[:12]
    return f"instance-id: {name}-{digest}\nlocal-hostname: {hostname}\n"


def write_seed(settings: Settings, slot: Slot, public_key: str) -> Path:
    """Write user-data (the rendered cloud-init template of the slot's role) and meta-data for ``slot``;
    return the directory."""
    from provisioner import cloudinit

    name = slot.name
    user_data = cloudinit.render(slot.role, public_key)
    directory = seed_dir(settings, name)
    meta = meta_data(name, slot.hostname, user_data)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for filename, text in (("user-data", user_data), ("meta-data", meta)):
            tmp = directory / f".{filename}.tmp"
            tmp.write_text(text, encoding="utf-8")
            tmp.chmod(0o644)
            os.replace(tmp, directory / filename)
    except OSError as exc:
        raise ProviderError(
            f"cannot write the cloud-init seed for {name} in {directory}: {exc.strerror}",
            "check that the state directory (MLSTACK_STATE_DIR) is writable",
        ) from None
    return directory


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port`` (so docker can publish it there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def any_free_port(taken: set[int]) -> int:
    """A free loopback port from the kernel's ephemeral range, not in ``taken``."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            port = sock.getsockname()[1]
        if port not in taken:
            return port
    raise ProviderError("found no free loopback port for a machine")


def choose_port(preferred: int, taken: set[int]) -> int:
    """``preferred`` when set (non-zero), unclaimed and free, else any free port; adds it to ``taken``."""
    port = (
        preferred
        if preferred and preferred not in taken and port_is_free(preferred)
        else any_free_port(taken)
    )
    taken.add(port)
    return port


@dataclass(frozen=True)
class Ports:
    """The loopback ports a machine publishes: SSH, and the app (prodserver only)."""

    ssh: int
    app: int | None = None


def published_ports(container: dict[str, Any]) -> Ports:
    """The ports an existing container publishes (read back so re-runs keep them)."""
    bindings = (container.get("HostConfig") or {}).get("PortBindings") or {}

    def host_port(container_port: int) -> int | None:
        for binding in bindings.get(f"{container_port}/tcp") or []:
            if str(binding.get("HostPort") or "").isdigit():
                return int(binding["HostPort"])
        return None

    ssh_port = host_port(SSH_PORT)
    if ssh_port is None:
        raise ProviderError(
            f"container {container.get('Name', '?').lstrip('/')} publishes no SSH port",
            "it was not made by this launcher, or was changed by hand; remove it with --destroy",
        )
    return Ports(ssh=ssh_port, app=host_port(APP_PORT))


def run_args(settings: Settings, slot: Slot, ports: Ports, seed: Path) -> list[str]:
    """The ``docker run`` arguments that create the machine for ``slot``."""
    args = [
        "run",
        "--detach",
        "--name",
        slot.name,
        "--hostname",
        slot.hostname,
        "--label",
        f"{LABEL_PREFIX}={settings.prefix}",
        "--label",
        f"{LABEL_ROLE}={slot.role}",
        "--network",
        network_name(settings.prefix),
        "--network-alias",
        slot.hostname,
        *RUN_FLAGS,
        "--volume",
        f"{volume_name(settings.prefix, slot.hostname)}:/var/lib/docker",
        "--volume",
        f"{seed}:{SEED_MOUNT}:ro",
        "--publish",
        f"{LOOPBACK}:{ports.ssh}:{SSH_PORT}",
    ]
    if ports.app is not None:
        args += ["--publish", f"{LOOPBACK}:{ports.app}:{APP_PORT}"]
    return [*args, settings.local_image]


def machine_record(settings: Settings, container: dict[str, Any]) -> Machine:
    """The Machine record of an existing container (ports and private address read from Docker).

    prodserver's and devserver's private address is their IP on ``<prefix>-net``; a worker's is its alias
    there (``worker-<n>``), which every machine on the network resolves.
    """
    labels = (container.get("Config") or {}).get("Labels") or {}
    role = labels.get(LABEL_ROLE, "")
    name = container["Name"].lstrip("/")
    ports = published_ports(container)
    networks = (container.get("NetworkSettings") or {}).get("Networks") or {}
    private = (networks.get(network_name(settings.prefix)) or {}).get("IPAddress") or None
    slot = fleet.slot_for(settings, name)
    if role == WORKER_ROLE and slot is not None:
        private = slot.hostname
    state = container.get("State") or {}
    return Machine(
        name=name,
        role=role,
        address=LOOPBACK,
        port=ports.ssh,
        user=settings.ssh_user,
        key_path=settings.private_key,
        private_address=private,
        app_port=ports.app,
        extra={
            "provider": "local",
            "container_id": container.get("Id", ""),
            "state": str(state.get("Status", "")),
            "running": "yes" if state.get("Running") else "no",
            "image": str((container.get("Config") or {}).get("Image", "")),
        },
    )


class LocalProvider:
    """The Provider protocol on the local Docker Engine (see the module docstring)."""

    def __init__(self, progress: Progress = wait.say, build_image: bool = True) -> None:
        self.progress = progress
        self.build_image = build_image

    # -- the Provider verbs ------------------------------------------------------------------------------

    def up(self, settings: Settings) -> list[Machine]:
        """Create what is missing, start what is stopped, reuse what runs; wait for SSH and cloud-init.

        Returns prodserver, devserver and worker-1..N; workers numbered above N are left as they are.
        """
        settings = self._with_keys(settings)
        docker_cli.ensure_engine()
        settings = fleet.resolve(settings, self._existing_workers(settings))
        self._ensure_image(settings)
        self._ensure_network(settings)
        public_key = settings.public_key.read_text(encoding="utf-8") if settings.public_key else ""
        taken = docker_cli.published_host_ports()
        new: list[str] = []
        slots = fleet.wanted(settings)
        for slot in slots:
            label = slot.role if not slot.is_worker else slot.hostname
            container = self._own_container(settings, slot.name)
            if container is None:
                self._create(settings, slot, public_key, taken)
                new.append(slot.name)
                continue
            self._check_key(settings, slot.name, public_key)
            if (container.get("State") or {}).get("Running"):
                self.progress(f"  {label:<11} reusing the running {slot.name}")
                continue
            if not (seed_dir(settings, slot.name) / "user-data").is_file():
                write_seed(settings, slot, public_key)
            try:
                docker_cli.run(["start", slot.name], what=f"starting {slot.name}")
            except ProviderError as exc:
                raise ProviderError(exc.message, "remove the machines with --destroy and run again") from None
            self.progress(f"  {label:<11} started the stopped {slot.name}")
        names = [slot.name for slot in slots]
        machines = sorted(
            (m for m in self.status(settings) if m.name in names), key=lambda m: names.index(m.name)
        )
        return self._wait(settings, machines, new)

    def surplus(self, settings: Settings) -> list[Machine]:
        """The worker machines numbered above ``settings.workers``, highest first (none when it is None)."""
        existing = self._existing_workers(settings)
        settings = fleet.resolve(settings, existing)
        return [existing[n] for n in fleet.surplus(settings, existing)]

    def remove_workers(self, settings: Settings, machines: list[Machine]) -> None:
        """Remove these worker machines (container, volume, seed, remembered host key), in this order."""
        docker_cli.ensure_engine()
        for machine in machines:
            slot = fleet.slot_for(settings, machine.name)
            if slot is None or not slot.is_worker:
                raise ProviderError(f"{machine.name} is not a worker machine of prefix {settings.prefix}")
            self._remove_container(settings, slot.name)
            self._remove_volume(settings, volume_name(settings.prefix, slot.hostname))
            shutil.rmtree(machine_dir(settings, slot.name), ignore_errors=True)

    def down(self, settings: Settings) -> None:
        """Remove the containers, volumes, network and seed directories of the prefix (harmless twice)."""
        docker_cli.ensure_engine()
        label = f"{LABEL_PREFIX}={settings.prefix}"
        names = {slot.name for slot in fleet.servers(settings)} | set(docker_cli.names("container", label))
        for name in sorted(names):
            self._remove_container(settings, name)
        volumes = {volume_name(settings.prefix, role) for role in ROLES} | set(
            docker_cli.names("volume", label)
        )
        for volume in sorted(volumes):
            self._remove_volume(settings, volume)
        network = docker_cli.inspect("network", network_name(settings.prefix))
        if network is not None and (network.get("Labels") or {}).get(LABEL_PREFIX) == settings.prefix:
            docker_cli.run(["network", "rm", network_name(settings.prefix)], what="removing the network")
            self.progress(f"  removed network {network_name(settings.prefix)}")
        local_dir = settings.state_dir / "local"
        if local_dir.is_dir():
            for directory in local_dir.iterdir():
                if directory.is_dir() and fleet.slot_for(settings, directory.name) is not None:
                    shutil.rmtree(directory)
            if not any(local_dir.iterdir()):
                local_dir.rmdir()

    def status(self, settings: Settings) -> list[Machine]:
        """The machines of the prefix that exist now (any state): prodserver, devserver, workers by number."""
        docker_cli.ensure_engine()
        names = [slot.name for slot in fleet.servers(settings)]
        label = f"{LABEL_PREFIX}={settings.prefix}"
        found = [n for n in docker_cli.names("container", label) if fleet.worker_number(settings.prefix, n)]
        names += sorted(found, key=lambda n: fleet.worker_number(settings.prefix, n) or 0)
        machines = []
        for name in names:
            container = docker_cli.inspect("container", name)
            if container is not None and self._is_ours(settings, container):
                machines.append(machine_record(settings, container))
        return machines

    def plan(self, settings: Settings) -> list[str]:
        """What ``up`` would do, one line per action; touches nothing."""
        docker_cli.ensure_engine()
        settings = fleet.resolve(settings, self._existing_workers(settings))
        lines = []
        image = docker_cli.inspect("image", settings.local_image)
        if self._builds_image(settings):
            state = "exists; rebuilt only if its recipe changed" if image else "missing; about a minute"
            lines.append(
                f"build the machine image {settings.local_image} with machine-image/build.sh ({state})"
            )
        elif image is None:
            lines.append(f"machine image {settings.local_image} is missing: up would fail")
        net = network_name(settings.prefix)
        verb = "reuse" if docker_cli.inspect("network", net) else "create"
        lines.append(f"{verb} the network {net}")
        taken = docker_cli.published_host_ports()
        for slot in fleet.wanted(settings):
            container = docker_cli.inspect("container", slot.name)
            if container is None:
                ssh_port = choose_port(self._preferred(settings.local_ssh_port_base, slot.index), taken)
                app = ""
                if slot.role == APP_ROLE:
                    app = f", app on {LOOPBACK}:{choose_port(settings.local_app_port, taken)}"
                volume = volume_name(settings.prefix, slot.hostname)
                lines.append(
                    f"create {slot.name} from {settings.local_image} with volume {volume} "
                    f"(SSH on {LOOPBACK}:{ssh_port}{app}), cloud-init seed in {seed_dir(settings, slot.name)}"
                )
            elif not self._is_ours(settings, container):
                lines.append(f"stop: a container named {slot.name} exists that this launcher did not make")
            elif (container.get("State") or {}).get("Running"):
                lines.append(f"reuse the running {slot.name}")
            else:
                lines.append(f"start the stopped {slot.name}")
        for machine in self.surplus(settings):
            slot = fleet.slot_for(settings, machine.name)
            volume = volume_name(settings.prefix, slot.hostname if slot else machine.name)
            lines.append(
                f"drain, then remove {machine.name} and its volume {volume} (workers={settings.workers})"
            )
        lines.append("wait for SSH and `cloud-init status --wait` on every machine")
        return lines

    # -- helpers -----------------------------------------------------------------------------------------

    def _existing_workers(self, settings: Settings) -> dict[int, Machine]:
        """The worker machines of the prefix that exist now (any state), by number."""
        existing: dict[int, Machine] = {}
        for machine in self.status(settings):
            number = fleet.worker_number(settings.prefix, machine.name)
            if machine.role == WORKER_ROLE and number is not None:
                existing[number] = machine
        return existing

    def _create(self, settings: Settings, slot: Slot, public_key: str, taken: set[int]) -> None:
        """``docker run`` the machine; when a chosen port was grabbed meanwhile, choose again (3 tries)."""
        name = slot.name
        seed = write_seed(settings, slot, public_key)
        self._ensure_volume(settings, slot)
        preferred_ssh = self._preferred(settings.local_ssh_port_base, slot.index)
        preferred_app = settings.local_app_port
        label = slot.role if not slot.is_worker else slot.hostname
        for attempt in range(3):
            ports = Ports(
                ssh=choose_port(preferred_ssh, taken),
                app=choose_port(preferred_app, taken) if slot.role == APP_ROLE else None,
            )
            try:
                docker_cli.run(run_args(settings, slot, ports, seed), what=f"creating {name}")
            except ProviderError as exc:
                # `docker run` may leave a created-but-not-started container behind: never reuse that.
                docker_cli.run(["rm", "--force", name], check=False)
                port_race = any(text in exc.message for text in _PORT_TAKEN)
                if not port_race or attempt == 2:
                    raise
                preferred_ssh = preferred_app = 0
                continue
            app = f", app on {LOOPBACK}:{ports.app}" if ports.app else ""
            self.progress(f"  {label:<11} created {name} (SSH on {LOOPBACK}:{ports.ssh}{app})")
            return

    def _remove_container(self, settings: Settings, name: str) -> None:
        """``docker rm --force`` our container ``name`` and forget its host key; leave a foreign one alone."""
        container = docker_cli.inspect("container", name)
        if container is None:
            return
        if not self._is_ours(settings, container):
            self.progress(
                f"  left {name} alone: it was not made by this launcher for prefix {settings.prefix}"
            )
            return
        try:
            ports = published_ports(container)
        except ProviderError:
            ports = None
        docker_cli.run(["rm", "--force", "--volumes", name], what=f"removing {name}")
        if ports is not None:
            ssh.forget(settings.known_hosts, LOOPBACK, ports.ssh)
        self.progress(f"  removed container {name}")

    def _remove_volume(self, settings: Settings, volume: str) -> None:
        """Remove ``volume`` when it carries our prefix label."""
        info = docker_cli.inspect("volume", volume)
        if info is not None and (info.get("Labels") or {}).get(LABEL_PREFIX) == settings.prefix:
            docker_cli.run(["volume", "rm", "--force", volume], what=f"removing volume {volume}")
            self.progress(f"  removed volume {volume}")

    @staticmethod
    def _check_key(settings: Settings, name: str, public_key: str) -> None:
        """A reused machine must trust the key we log in with (it was given at creation only)."""
        user_data = seed_dir(settings, name) / "user-data"
        fields = public_key.split()
        if not user_data.is_file() or len(fields) < 2:
            return
        if fields[1] not in user_data.read_text(encoding="utf-8"):
            raise ProviderError(
                f"{name} was created for another SSH key than {settings.public_key}",
                "log in with the key it was made with (--public-key/--private-key), "
                "or recreate the machines: --destroy, then run again",
            )

    @staticmethod
    def _preferred(base: int, index: int) -> int:
        return base + index if base else 0

    @staticmethod
    def _with_keys(settings: Settings) -> Settings:
        if settings.public_key is not None and settings.private_key is not None:
            return settings
        from provisioner import keys

        return keys.resolve(settings)

    @staticmethod
    def _is_ours(settings: Settings, container: dict[str, Any]) -> bool:
        labels = (container.get("Config") or {}).get("Labels") or {}
        return labels.get(LABEL_PREFIX) == settings.prefix and labels.get(LABEL_ROLE) in OUR_ROLES

    def _own_container(self, settings: Settings, name: str) -> dict[str, Any] | None:
        container = docker_cli.inspect("container", name)
        if container is not None and not self._is_ours(settings, container):
            raise ProviderError(
                f"a container named {name} exists that this launcher did not make",
                "remove or rename it, or choose another --prefix",
            )
        return container

    @staticmethod
    def _builds_image(settings: Settings) -> bool:
        return settings.local_image.split(":", 1)[0] == OWN_IMAGE_REPOSITORY

    def _ensure_image(self, settings: Settings) -> None:
        """Build (or confirm up to date) our own image; a foreign image must already exist."""
        if not (self.build_image and self._builds_image(settings)):
            if docker_cli.inspect("image", settings.local_image) is None:
                raise ProviderError(
                    f"the machine image {settings.local_image} does not exist",
                    "build it (machine-image/build.sh --tag NAME) or pull it, or keep local_image's default",
                )
            return
        started = time.monotonic()
        if docker_cli.inspect("image", settings.local_image) is None:
            self.progress(f"  building the machine image {settings.local_image} (about a minute, once)")
        argv = [str(IMAGE_BUILDER), "--tag", settings.local_image]
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        built = "build: built" in result.stderr
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise ProviderError(
                f"building the machine image {settings.local_image} failed:\n{tail}",
                f"run {IMAGE_BUILDER.relative_to(REPO_ROOT)} --verbose to see the whole build",
            )
        if built or settings.verbose:
            verb = "built" if built else "is up to date:"
            self.progress(
                f"  machine image {verb} {settings.local_image} ({time.monotonic() - started:.0f}s)"
            )

    def _ensure_network(self, settings: Settings) -> None:
        name = network_name(settings.prefix)
        network = docker_cli.inspect("network", name)
        if network is None:
            docker_cli.run(
                ["network", "create", "--label", f"{LABEL_PREFIX}={settings.prefix}", name],
                what=f"creating the network {name}",
            )
        elif (network.get("Labels") or {}).get(LABEL_PREFIX) != settings.prefix:
            raise ProviderError(
                f"a docker network named {name} exists that this launcher did not make",
                "remove it, or choose another --prefix",
            )

    def _ensure_volume(self, settings: Settings, slot: Slot) -> None:
        name = volume_name(settings.prefix, slot.hostname)
        if docker_cli.inspect("volume", name) is None:
            docker_cli.run(
                [
                    "volume",
                    "create",
                    "--label",
                    f"{LABEL_PREFIX}={settings.prefix}",
                    "--label",
                    f"{LABEL_ROLE}={slot.role}",
                    name,
                ],
                what=f"creating the volume {name}",
            )

    def _wait_booted(self, settings: Settings, machine: Machine) -> None:
        """Wait for the SSH banner while checking that the container keeps running (fail fast if not)."""
        deadline = time.monotonic() + settings.ssh_timeout
        while True:
            container = docker_cli.inspect("container", machine.name)
            if container is None or not (container.get("State") or {}).get("Running"):
                logs = docker_cli.run(["logs", "--tail", "20", machine.name], check=False)
                tail = (logs.stdout + logs.stderr).strip()
                raise ProviderError(
                    f"{machine.role} ({machine.name}) stopped while booting" + (f":\n{tail}" if tail else ""),
                    f"see `docker logs {machine.name}`; the host must allow the flags in RUN_FLAGS "
                    "(provisioner/providers/local.py)",
                )
            if wait.ssh_banner(machine.address, machine.port, timeout=2.0):
                return
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"{machine.role} ({machine.name}): no SSH banner at {machine.address}:{machine.port} "
                    f"after {settings.ssh_timeout:.0f}s",
                    f"look inside: docker exec {machine.name} systemctl status ssh",
                )
            time.sleep(0.5)

    @staticmethod
    def _cloud_init_output(name: str) -> str:
        """What cloud-init printed in the machine (its console text, kept in /var/log/cloud-init-output.log),
        read through Docker, not over the network; "" before cloud-init has written it."""
        result = docker_cli.run(["exec", name, "cat", CLOUD_INIT_OUTPUT], check=False)
        return result.stdout if result.returncode == 0 else ""

    def _wait(self, settings: Settings, machines: list[Machine], new: list[str]) -> list[Machine]:
        """Wait for SSH, pin the host keys cloud-init printed, wait for cloud-init; the machines as pinned."""
        for machine in machines:
            self._wait_booted(settings, machine)
        machines = hostkeys.pin_machines(
            settings, machines, set(new), self._cloud_init_output, self.progress, poll=1.0, stale=60.0
        )
        try:
            wait.wait_for_machines(machines, settings, new=new, progress=self.progress)
        except LauncherError as exc:
            names = " / ".join(m.name for m in machines)
            local_hint = f"on local machines also: docker exec -it <{names}> journalctl -b --no-pager"
            raise type(exc)(exc.message, f"{exc.hint}; {local_hint}" if exc.hint else local_hint) from None
        return machines


__all__ = ["LocalProvider", "Ports", "machine_record", "run_args", "write_seed"]
