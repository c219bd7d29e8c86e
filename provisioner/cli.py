"""The command line: settings -> provider.up -> inventory -> ansible-runner -> a summary.

Every failure a person can cause or fix ends here as ``error: ...`` plus a hint and an exit code
(see provisioner/errors.py), never as a traceback (``-vv`` shows one for unexpected errors).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from provisioner import extravars, fleet, inventory, keys, netvars, offline, probe, runner, ssh
from provisioner.errors import ConfigError, LauncherError
from provisioner.machine import WORKER_ROLE, Machine
from provisioner.providers import get_provider
from provisioner.settings import (
    ACCESS_MODES,
    CLI_ONLY,
    ENV_PREFIX,
    FIELD_HELP,
    HOST_KEY_MODES,
    PROVIDERS,
    REPO_ROOT,
    SETTINGS_FILE,
    Settings,
    default_prefix,
    env_name,
    load_settings,
)

ProviderFactory = Callable[[str], Any]
APP_PORT = 5100
DEFAULTS = Settings()


def vars_file(settings: Settings) -> Path:
    """``<state_dir>/extra-vars-<prefix>.yml``: the extra variables of the prefix's last configuration run."""
    return settings.state_dir / f"extra-vars-{settings.prefix}.yml"


DESCRIPTION = """\
Create (or reuse) the two servers prodserver and devserver (and --workers N worker machines), write
inventory/hosts.yml, and configure them with configuration.yml through ansible-runner. Safe to run again:
what exists is reused, never duplicated. Without --workers the worker machines that exist are kept; a
smaller --workers drains, then removes the highest-numbered ones (--workers 0 removes them all).
"""


def _epilog() -> str:
    defaults = Settings()
    lines = [
        "where settings come from (highest first):",
        "  1. these options",
        f"  2. environment variables {ENV_PREFIX}<NAME>, e.g. MLSTACK_FLAVOR=m1.large",
        f"  3. a settings file: --settings FILE, else $MLSTACK_SETTINGS, else {SETTINGS_FILE.name} in the",
        "     repository root (optional; YAML, e.g. `flavor: m1.large`)",
        "  4. the defaults below",
        "--destroy, --status and --dry-run are command-line only. --extra-vars come after the files of",
        "extra_vars / MLSTACK_EXTRA_VARS, and every extra variable wins over the launcher's own (offline",
        "mode, the data set file).",
        "",
        "every setting (environment variable, default):",
    ]
    for field in dataclasses.fields(Settings):
        if field.name in CLI_ONLY:
            continue
        default = getattr(defaults, field.name)
        default = "unset" if default is None else ("none" if default == () else default)
        lines.append(f"  {env_name(field.name):<30} {FIELD_HELP[field.name]} [default: {default}]")
    lines += [
        "",
        "OpenStack credentials are openstacksdk's: clouds.yaml with --cloud NAME or OS_CLOUD, or the OS_*",
        "variables of an OpenStack RC file (password or application credential).",
        'The default provider is "local" (systemd containers on this machine\'s Docker), so `make up` needs',
        "no cloud; pass --provider openstack (or MLSTACK_PROVIDER=openstack) for a cloud.",
        "",
        "exit codes: 0 ok, 1 unexpected error, 2 bad settings, 3 the cloud or engine failed,",
        "4 a wait timed out, 5 the configuration failed on a host, 130 interrupted.",
    ]
    return "\n".join(lines)


def _path(text: str) -> Path:
    return Path(text).expanduser().resolve()


def _extra_vars_entry(text: str) -> str:
    """``@FILE`` with FILE made absolute (the run may change directory); anything else as given."""
    if text.startswith("@") and text[1:].strip():
        return "@" + str(_path(text[1:].strip()))
    return text


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; options absent from the command line are absent from the namespace."""
    p = argparse.ArgumentParser(
        prog="start_instances.py",
        description=DESCRIPTION,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    where = p.add_argument_group("where the machines run")
    where.add_argument("--provider", choices=PROVIDERS, help="openstack or local (default: local)")
    where.add_argument(
        "--cloud", metavar="NAME", help="clouds.yaml entry (default: OS_CLOUD or OS_* variables)"
    )
    where.add_argument("--region", metavar="NAME", help="the cloud's region (default: clouds.yaml's)")
    where.add_argument(
        "--api-timeout",
        type=float,
        metavar="SECONDS",
        help=f"wait this long for each OpenStack API answer (default: {Settings.api_timeout:g})",
    )
    where.add_argument(
        "--api-retries",
        type=int,
        metavar="N",
        help=f"retry an OpenStack request N times after a connection failure or 503 ({Settings.api_retries})",
    )
    where.add_argument("--image", metavar="NAME", help=f"Glance image (default: {Settings.image})")
    where.add_argument("--flavor", metavar="NAME", help=f"Nova flavor (default: {Settings.flavor})")
    where.add_argument("--network", metavar="NAME", help="Neutron network (default: the project's only one)")
    where.add_argument("--floating-network", metavar="NAME", help="external network for floating IPs")
    where.add_argument(
        "--access",
        choices=ACCESS_MODES,
        help="reach the servers by floating IP, by their fixed addresses, or auto (default: auto)",
    )
    where.add_argument("--availability-zone", metavar="NAME", help="Nova availability zone for the servers")
    where.add_argument(
        "--config-drive",
        action=argparse.BooleanOptionalAction,
        help="attach a config drive (for networks without a metadata service)",
    )
    where.add_argument(
        "--boot-from-volume",
        action=argparse.BooleanOptionalAction,
        help="boot from a new volume (default: only when the flavor has no disk)",
    )
    where.add_argument(
        "--volume-size", type=int, metavar="GB", help=f"boot volume size (default: {Settings.volume_size})"
    )
    where.add_argument(
        "--devserver-floating-ip",
        action="store_true",
        help="give devserver its own floating IP (default: reach it through prodserver)",
    )
    where.add_argument(
        "--prefix",
        metavar="NAME",
        help="resource names <prefix>-prodserver/-devserver/-worker-N (mlstack; on OpenStack mlstack-<user>)",
    )
    where.add_argument(
        "--allowed-cidr",
        metavar="CIDR",
        help="who may reach SSH and port 5100; required on OpenStack: your address (a.b.c.d/32), your "
        "network, or 0.0.0.0/0 for everyone",
    )
    where.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker machines <prefix>-worker-1..N (default: keep those that exist; fewer than exist: "
        "drain, then remove the highest; 0 removes them all)",
    )

    access = p.add_argument_group("access")
    access.add_argument("--key-name", metavar="NAME", help="Nova keypair name (default: <prefix>-key)")
    access.add_argument(
        "--host-keys",
        choices=HOST_KEY_MODES,
        help="trust SSH host keys read from the console log cloud-init printed to (console: or stop, exit "
        "code 3), the first key seen (accept-new), or console where the cloud provides it (auto, default)",
    )
    access.add_argument(
        "--public-key",
        type=_path,
        metavar="PATH",
        help="public key for appuser (default: see MLSTACK_PUBLIC_KEY)",
    )
    access.add_argument(
        "--private-key", type=_path, metavar="PATH", help="its private key (default: PATH minus .pub)"
    )

    action = p.add_argument_group("what to do (default: bring everything up and configure it)")
    action.add_argument(
        "--no-configure",
        dest="configure",
        action="store_false",
        help="create the machines and the inventory only",
    )
    action.add_argument(
        "--destroy", action="store_true", help="remove what the launcher created (twice is harmless)"
    )
    action.add_argument("--status", action="store_true", help="show the machines that exist")
    action.add_argument("--dry-run", action="store_true", help="print the plan and touch nothing")

    config = p.add_argument_group("the configuration run")
    config.add_argument(
        "-e",
        "--extra-vars",
        dest="extra_vars",
        action="append",
        type=_extra_vars_entry,
        metavar="VARS",
        help="extra variables, as ansible-playbook takes them: @FILE.yml or key=value (repeatable; the "
        "later wins; also for the drain run)",
    )
    config.add_argument(
        "--offline",
        action=argparse.BooleanOptionalAction,
        help="no registry, no Docker apt repository: build the base images here, ship them as archives "
        "(cached in .cache/images/), Docker from the distribution",
    )
    config.add_argument(
        "--dataset-file",
        type=_path,
        metavar="PATH",
        help="the data set CSV on this machine, copied to the servers instead of downloaded",
    )

    misc = p.add_argument_group("other")
    misc.add_argument(
        "--settings", type=_path, metavar="FILE", help=f"settings file (default: {SETTINGS_FILE.name})"
    )
    misc.add_argument("-v", "--verbose", action="count", help="more output (-vv: debug logs, ansible -v)")
    return p


def _say(line: str = "") -> None:
    print(line, flush=True)


def _error(exc: LauncherError) -> None:
    print(f"error: {exc.message}", file=sys.stderr, flush=True)
    if exc.hint:
        print(f"  hint: {exc.hint}", file=sys.stderr, flush=True)


def _app_url(machine: Machine) -> str:
    return f"http://{machine.address}:{machine.app_port or APP_PORT}/"


def _launcher_flags(settings: Settings) -> str:
    """The options a later command needs to find the same machines: --provider and --prefix when they
    are not the defaults."""
    flags = ""
    if settings.provider != DEFAULTS.provider:
        flags += f" --provider {settings.provider}"
    if settings.prefix != default_prefix(settings.provider):
        flags += f" --prefix {settings.prefix}"
    return flags


def _by_hand(settings: Settings, inventory_path: Path, variables_file: Path | None) -> str:
    """The ansible-playbook command line that configures again with the same inventory and variables."""
    playbook = settings.playbook
    shown = playbook.relative_to(REPO_ROOT) if playbook.is_relative_to(REPO_ROOT) else playbook
    argv = f"ansible-playbook {shown}"
    if inventory_path.resolve() != (DEFAULTS.inventory_dir / inventory.HOSTS_FILE).resolve():
        argv += f" -i {inventory_path}"
    if variables_file is not None:
        argv += f" -e @{variables_file}"
    return argv


def summary(
    settings: Settings,
    machines: Sequence[Machine],
    inventory_path: Path,
    configured: bool,
    variables_file: Path | None = None,
) -> list[str]:
    """What exists, where the app is, how to log in, what to do next."""
    lines = [f"Machines ({settings.provider}):"]
    for m in machines:
        via = f" via {m.proxy_jump}" if m.proxy_jump else ""
        private = (
            f", private {m.private_address}" if m.private_address and m.private_address != m.address else ""
        )
        lines.append(f"  {m.role:<11} {m.name:<24} {m.user}@{m.address}:{m.port}{via}{private}")
    prod = next((m for m in machines if m.role == "prodserver"), None)
    if prod is not None:
        state = "" if configured else " (after configuration: run without --no-configure)"
        lines.append(f"App:          {_app_url(prod)}{state}")
        tunnel = ssh.login_line(prod, settings.known_hosts).replace(
            "ssh ", "ssh -L 15672:127.0.0.1:15672 ", 1
        )
        lines.append(f"RabbitMQ UI:  {tunnel}  then http://127.0.0.1:15672/")
    lines.append("Log in:")
    for m in machines:
        lines.append(f"  {ssh.login_line(m, settings.known_hosts)}")
    lines.append(f"Inventory:    {inventory_path}")
    flags = _launcher_flags(settings)
    commands = [
        (_by_hand(settings, inventory_path, variables_file), "configure again by hand (same inventory)"),
        (f"python start_instances.py{flags} --status", "what exists"),
        (f"python start_instances.py{flags} --destroy", "remove everything the launcher made"),
    ]
    width = max(len(command) for command, _ in commands) + 2
    lines.append("Next:")
    lines += [f"  {command:<{width}}{what}" for command, what in commands]
    return lines


def _status(settings: Settings, provider: Any) -> int:
    machines = provider.status(settings)
    if not machines:
        _say(f"No machines for prefix {settings.prefix!r} ({settings.provider}).")
        return 0
    _say(f"Machines for prefix {settings.prefix!r} ({settings.provider}):")
    for m in machines:
        state = m.extra.get("status") or m.extra.get("state") or ""
        app = f"  app {_app_url(m)}" if m.app_port else ""
        _say(f"  {m.role:<11} {m.name:<24} {state:<8} {m.user}@{m.address}:{m.port}{app}")
    return 0


def _variable_sources(settings: Settings) -> list[str]:
    """Where the configuration's extra variables come from, lowest first."""
    sources = []
    if settings.offline:
        sources.append("offline mode")
    if settings.dataset_file is not None:
        sources.append(f"the data set file {settings.dataset_file}")
    return sources + list(settings.extra_vars)


def resolve_sources(
    settings: Settings, user_vars: dict[str, Any], probe_url: probe.Probe | None = None
) -> Settings:
    """Decide what ``make up`` with no flags needs decided, before anything is made: offline mode when it
    is unset (local machines: on when Docker Hub or Docker's apt repository does not answer; OpenStack:
    off, the cloud's servers download for themselves), and, on local machines, a local copy of the data
    set when its download address does not answer. Each decision is one line of output."""
    if not settings.configure:  # neither the images nor the data set are needed
        return dataclasses.replace(settings, offline=bool(settings.offline))
    local = settings.provider == "local"
    probe_url = probe_url or probe.unreachable
    if settings.offline is None:
        blocked = probe.install_sources_blocked(probe=probe_url) if local else []
        if blocked:
            _say(
                f"Offline mode: {' and '.join(blocked)} not reachable from here: building the base images "
                "here and installing Docker from the distribution (--no-offline forces the default path)"
            )
        settings = dataclasses.replace(settings, offline=bool(blocked))
    given = settings.dataset_file is not None or bool(user_vars.get("model_serving_dataset_file"))
    if local and not given:
        url = str(user_vars.get("model_serving_dataset_url") or probe.DATASET_URL)
        why = probe_url(url, probe.TIMEOUT)
        if why is not None:
            copy = probe.local_dataset()
            if copy is None:
                raise probe.dataset_unavailable(url, why=why)
            _say(f"Data set: {url} not reachable ({why}): using {copy}")
            settings = dataclasses.replace(settings, dataset_file=copy)
    return settings


def _plan(settings: Settings, provider: Any) -> int:
    if not settings.destroy:
        _check_settings(settings, provider)
        user_vars = extravars.load(settings.extra_vars)  # bad input is reported before anything is made
        offline.dataset_vars(settings.dataset_file)
        settings = resolve_sources(settings, user_vars)
        settings = _resolve_workers(settings, provider)
    _say(f"Plan ({settings.provider}, dry run: nothing is changed):")
    for line in provider.plan(settings):
        _say(f"  - {line}")
    if settings.destroy:
        _say(f"  - remove {settings.inventory_dir / inventory.HOSTS_FILE}")
    else:
        surplus = provider.surplus(settings)
        if surplus:
            names = ", ".join(m.name for m in surplus)
            if settings.drain_playbook.is_file():
                _say(f"  - drain {names} with {settings.drain_playbook} (limited to them), then remove them")
            else:
                _say(f"  - no drain playbook ({settings.drain_playbook}): remove {names} without draining")
        _say(f"  - write {settings.inventory_dir / inventory.HOSTS_FILE} (group_vars/ untouched)")
        if settings.configure:
            if settings.offline:
                _say(
                    f"  - offline mode: build (or find up to date) {offline.BASE_IMAGE}, "
                    f"{offline.PYTHON_IMAGE} and {offline.RABBITMQ_IMAGE}; save the missing archives in "
                    f"{offline.CACHE_DIR}/"
                )
            sources = _variable_sources(settings)
            if sources:
                _say(f"  - extra variables (the later wins): {', '.join(sources)}")
            _say(
                f"  - run {settings.playbook.name} with ansible-runner "
                f"(artifacts in {settings.artifacts_dir}/ansible)"
            )
    return 0


def _destroy(settings: Settings, provider: Any) -> int:
    _say(f"Removing the machines for prefix {settings.prefix!r} ({settings.provider})")
    provider.down(settings)
    vars_file(settings).unlink(missing_ok=True)
    if inventory.remove_inventory(settings.inventory_dir):
        _say(f"  removed {settings.inventory_dir / inventory.HOSTS_FILE}")
    _say("Done.")
    return 0


def _drain(
    settings: Settings,
    machines: Sequence[Machine],
    surplus: Sequence[Machine],
    variables: dict[str, Any],
) -> None:
    """Run the drain playbook on the surplus workers that run; raise (nothing removed) when it fails."""
    running = [m for m in surplus if m.extra.get("running", "yes") != "no"]
    for machine in surplus:
        if machine not in running:
            _say(f"  {machine.name} is not running: nothing to drain")
    if not running:
        return
    playbook = settings.drain_playbook
    if not playbook.is_file():
        _say(f"  no drain playbook present ({playbook}): removing without draining")
        return
    # The inventory still lists the machines being drained, so that the playbook can reach them.
    path = inventory.write_inventory([*machines, *surplus], settings.inventory_dir, settings.known_hosts)
    runner.drain(
        playbook,
        path,
        settings.artifacts_dir,
        [inventory.host_name(m) for m in running],
        project_dir=settings.playbook.parent,
        verbose=settings.verbose,
        out=_say,
        extravars=variables,
    )


def _resolve_workers(settings: Settings, provider: Any) -> Settings:
    """``settings`` with ``workers`` set: as given, or (unset) the worker machines that exist, which the
    provider's status tells."""
    if settings.workers is not None:
        return settings
    existing = [m for m in provider.status(settings) if m.role == WORKER_ROLE]
    numbers = [fleet.worker_number(settings.prefix, m.name) for m in existing]
    resolved = fleet.resolve(settings, [n for n in numbers if n is not None])
    if resolved.workers:
        _say(
            f"Keeping the {resolved.workers} worker machine(s) that exist "
            "(--workers N changes that; --workers 0 removes them)"
        )
    return resolved


def _scale_down(
    settings: Settings, provider: Any, machines: Sequence[Machine], variables: dict[str, Any]
) -> None:
    """Drain, then remove the worker machines numbered above settings.workers (highest first)."""
    surplus = provider.surplus(settings)
    if not surplus:
        return
    names = ", ".join(m.name for m in surplus)
    _say(f"Scaling down to {settings.workers} worker machine(s): draining, then removing {names}")
    _drain(settings, machines, surplus, variables)
    provider.remove_workers(settings, list(surplus))
    _say(f"  removed {names}")


def _configure(
    settings: Settings, inventory_path: Path, user_vars: dict[str, Any], machines: Sequence[Machine] = ()
) -> Path | None:
    """The configuration run with the launcher's extra variables below the user's; returns the file that
    holds them (for the by-hand command), None when there are none."""
    if not settings.playbook.is_file():
        raise ConfigError(
            f"the playbook {settings.playbook} does not exist",
            "run with --no-configure, or set MLSTACK_PLAYBOOK",
        )
    network = netvars.docker_mtu_vars(machines)
    if network:
        mtu = network["docker_daemon_network_options"]["mtu"]
        _say(f"Network MTU {mtu}: Docker Engine's daemon gets mtu {mtu} (docker_daemon_network_options)")
    variables = extravars.merge(offline.launcher_vars(settings, _say), network, user_vars)
    path: Path | None = vars_file(settings)
    if variables:
        _say(f"Extra variables (the later wins): {', '.join(_variable_sources(settings))}")
        extravars.write(variables, path)
    else:
        path.unlink(missing_ok=True)
        path = None
    runner.configure(
        settings.playbook,
        inventory_path,
        settings.artifacts_dir,
        verbose=settings.verbose,
        out=_say,
        extravars=variables,
        vars_file=path,
    )
    return path


def _check_settings(settings: Settings, provider: Any) -> None:
    """The provider's own checks of the settings (OpenStack: allowed_cidr), before the first request."""
    check = getattr(provider, "check_settings", None)
    if check is not None:
        check(settings)


def _up(settings: Settings, provider: Any) -> int:
    _check_settings(settings, provider)
    user_vars = extravars.load(settings.extra_vars)  # bad input stops the run before anything is made
    offline.dataset_vars(settings.dataset_file)
    settings = resolve_sources(settings, user_vars)
    settings = _resolve_workers(settings, provider)
    workers = f" and {settings.workers} worker machine(s)" if settings.workers else ""
    _say(f"Bringing up prodserver, devserver{workers} ({settings.provider}, prefix {settings.prefix!r})")
    machines = provider.up(settings)  # the provider picks (or makes) the SSH key: keys.resolve
    keys_used = sorted({str(m.key_path) for m in machines if m.key_path})
    _say(f"SSH key: {', '.join(keys_used) or 'ssh defaults'}")
    settings = keys.resolve(settings)  # the same pair the provider chose (it exists by now)
    _scale_down(settings, provider, machines, user_vars)
    path = inventory.write_inventory(machines, settings.inventory_dir, settings.known_hosts)
    _say(f"Inventory written: {path}")
    variables_file = _configure(settings, path, user_vars, machines) if settings.configure else None
    _say("")
    for line in summary(settings, machines, path, settings.configure, variables_file):
        _say(line)
    return 0


def run(settings: Settings, provider_factory: ProviderFactory = get_provider) -> int:
    """Do what ``settings`` asks; LauncherErrors propagate."""
    if sum((settings.destroy, settings.status)) > 1:
        raise ConfigError("--destroy and --status do not go together")
    provider = provider_factory(settings.provider)
    if settings.status:
        return _status(settings, provider)
    if settings.dry_run:
        return _plan(settings, provider)
    if settings.destroy:
        return _destroy(settings, provider)
    return _up(settings, provider)


def main(argv: Sequence[str] | None = None, provider_factory: ProviderFactory = get_provider) -> int:
    """Parse ``argv``, run, and turn every error into a message and an exit code."""
    parser = build_parser()
    try:
        args = vars(parser.parse_args(argv))
    except SystemExit as exc:  # --help (0) or a usage error (2): argparse has printed the message
        return int(exc.code or 0)
    settings_file = args.pop("settings", None)
    verbose = int(args.get("verbose", 0) or 0)
    try:
        settings = load_settings(args, settings_file=settings_file)
        return run(settings, provider_factory)
    except LauncherError as exc:
        _error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            "\ninterrupted: run the same command again to continue (nothing is created twice)",
            file=sys.stderr,
        )
        return 130
    except Exception as exc:
        if verbose >= 2:
            traceback.print_exc()
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        print("  hint: run again with -vv for the details", file=sys.stderr)
        return 1
