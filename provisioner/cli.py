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

from provisioner import inventory, keys, runner, ssh
from provisioner.errors import ConfigError, LauncherError
from provisioner.machine import Machine
from provisioner.providers import get_provider
from provisioner.settings import (
    CLI_ONLY,
    ENV_PREFIX,
    FIELD_HELP,
    PROVIDERS,
    SETTINGS_FILE,
    Settings,
    env_name,
    load_settings,
)

ProviderFactory = Callable[[str], Any]
APP_PORT = 5100

DESCRIPTION = """\
Create (or reuse) the two servers prodserver and devserver (and --workers N worker machines), write
inventory/hosts.yml, and configure them with configuration.yml through ansible-runner. Safe to run again:
what exists is reused, never duplicated. A smaller --workers drains, then removes the highest-numbered
worker machines.
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
        "--destroy, --status and --dry-run are command-line only.",
        "",
        "every setting (environment variable, default):",
    ]
    for field in dataclasses.fields(Settings):
        if field.name in CLI_ONLY:
            continue
        default = getattr(defaults, field.name)
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
    where.add_argument("--image", metavar="NAME", help=f"Glance image (default: {Settings.image})")
    where.add_argument("--flavor", metavar="NAME", help=f"Nova flavor (default: {Settings.flavor})")
    where.add_argument("--network", metavar="NAME", help="Neutron network (default: the project's only one)")
    where.add_argument("--floating-network", metavar="NAME", help="external network for floating IPs")
    where.add_argument(
        "--devserver-floating-ip",
        action="store_true",
        help="give devserver its own floating IP (default: reach it through prodserver)",
    )
    where.add_argument(
        "--prefix", metavar="NAME", help="resource names <prefix>-prodserver/-devserver/-worker-N (mlstack)"
    )
    where.add_argument("--allowed-cidr", metavar="CIDR", help="who may reach SSH and port 5100 (0.0.0.0/0)")
    where.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker machines <prefix>-worker-1..N (default 0; fewer than exist: drain, then remove)",
    )

    access = p.add_argument_group("access")
    access.add_argument("--key-name", metavar="NAME", help="Nova keypair name (default: <prefix>-key)")
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


def summary(
    settings: Settings, machines: Sequence[Machine], inventory_path: Path, configured: bool
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
    provider = "" if settings.provider == "local" else f" --provider {settings.provider}"
    lines += [
        "Next:",
        "  ansible-playbook configuration.yml              configure again by hand (same inventory)",
        f"  python start_instances.py{provider} --status      what exists",
        f"  python start_instances.py{provider} --destroy     remove everything the launcher made",
    ]
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


def _plan(settings: Settings, provider: Any) -> int:
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
            _say(
                f"  - run {settings.playbook.name} with ansible-runner "
                f"(artifacts in {settings.artifacts_dir}/ansible)"
            )
    return 0


def _destroy(settings: Settings, provider: Any) -> int:
    _say(f"Removing the machines for prefix {settings.prefix!r} ({settings.provider})")
    provider.down(settings)
    if inventory.remove_inventory(settings.inventory_dir):
        _say(f"  removed {settings.inventory_dir / inventory.HOSTS_FILE}")
    _say("Done.")
    return 0


def _drain(settings: Settings, machines: Sequence[Machine], surplus: Sequence[Machine]) -> None:
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
    )


def _scale_down(settings: Settings, provider: Any, machines: Sequence[Machine]) -> None:
    """Drain, then remove the worker machines numbered above settings.workers (highest first)."""
    surplus = provider.surplus(settings)
    if not surplus:
        return
    names = ", ".join(m.name for m in surplus)
    _say(f"Scaling down to {settings.workers} worker machine(s): draining, then removing {names}")
    _drain(settings, machines, surplus)
    provider.remove_workers(settings, list(surplus))
    _say(f"  removed {names}")


def _up(settings: Settings, provider: Any) -> int:
    workers = f" and {settings.workers} worker machine(s)" if settings.workers else ""
    _say(f"Bringing up prodserver, devserver{workers} ({settings.provider}, prefix {settings.prefix!r})")
    machines = provider.up(settings)  # the provider picks (or makes) the SSH key: keys.resolve
    keys_used = sorted({str(m.key_path) for m in machines if m.key_path})
    _say(f"SSH key: {', '.join(keys_used) or 'ssh defaults'}")
    settings = keys.resolve(settings)  # the same pair the provider chose (it exists by now)
    _scale_down(settings, provider, machines)
    path = inventory.write_inventory(machines, settings.inventory_dir, settings.known_hosts)
    _say(f"Inventory written: {path}")
    if settings.configure:
        if not settings.playbook.is_file():
            raise ConfigError(
                f"the playbook {settings.playbook} does not exist",
                "run with --no-configure, or set MLSTACK_PLAYBOOK",
            )
        runner.configure(settings.playbook, path, settings.artifacts_dir, verbose=settings.verbose, out=_say)
    _say("")
    for line in summary(settings, machines, path, settings.configure):
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
