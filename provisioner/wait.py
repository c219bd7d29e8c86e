"""Wait until a machine answers SSH and cloud-init has finished, showing progress.

Per machine: (1) a TCP connection to its SSH port returns an ``SSH-`` banner (skipped for machines reached
through a jump host), then (2) ``ssh ... cloud-init status --wait`` succeeds as the login user. Step 2 is
retried while ssh itself fails (exit 255: sshd up but the key not installed yet, or the jump host not
ready). Each step has its own timeout; a timeout says which host and how to look at it.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from provisioner import ssh
from provisioner.errors import ProviderError, WaitTimeout
from provisioner.machine import Machine
from provisioner.settings import Settings

Progress = Callable[[str], None]
PROGRESS_EVERY = 15.0  # seconds between "still waiting" lines
RETRY_PAUSE = 3.0


def say(line: str) -> None:
    """Default progress printer."""
    print(line, flush=True)


@dataclass
class _Clock:
    """Elapsed time since a start, and a throttle for repeated progress lines."""

    start: float
    last_report: float = -1e9

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last_report >= PROGRESS_EVERY:
            self.last_report = now
            return True
        return False


def ssh_banner(address: str, port: int, timeout: float = 5.0) -> str | None:
    """The SSH identification line the server sends, or None when nothing answers."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            data = conn.recv(255)
    except OSError:
        return None
    line = data.decode("ascii", "replace").strip()
    return line if line.startswith("SSH-") else None


def wait_for_ssh_port(machine: Machine, timeout: float, progress: Progress = say) -> str:
    """Wait for the banner on ``machine.address:machine.port``; return it."""
    clock = _Clock(time.monotonic())
    while True:
        banner = ssh_banner(machine.address, machine.port)
        if banner:
            progress(
                f"  {machine.role:<11} SSH answers at {machine.address}:{machine.port} "
                f"({clock.elapsed():.0f}s)"
            )
            return banner
        if clock.elapsed() >= timeout:
            raise WaitTimeout(
                f"{machine.role} ({machine.name}): no SSH banner at {machine.address}:{machine.port} "
                f"after {timeout:g}s",
                "check the server's console log and security group (port 22 from your address); "
                "raise MLSTACK_SSH_TIMEOUT for slow clouds",
            )
        if clock.due():
            progress(
                f"  {machine.role:<11} waiting for SSH at {machine.address}:{machine.port} "
                f"({clock.elapsed():.0f}s)"
            )
        time.sleep(1.0)


def _run_with_progress(
    argv: list[str], machine: Machine, clock: _Clock, deadline: float, progress: Progress
) -> tuple[int, str] | None:
    """Run ``argv`` and print a line every PROGRESS_EVERY seconds; None when the deadline passed."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        while proc.poll() is None:
            if time.monotonic() >= deadline:
                proc.kill()
                proc.wait()
                return None
            if clock.due():
                progress(f"  {machine.role:<11} cloud-init running ({clock.elapsed():.0f}s)")
            time.sleep(0.1)
        output = proc.stdout.read() if proc.stdout else ""
    return proc.returncode, output.strip()


def wait_for_cloud_init(machine: Machine, settings: Settings, progress: Progress = say) -> None:
    """Run ``cloud-init status --wait`` over SSH until it reports done; raise on error or timeout."""
    timeout = settings.cloud_init_timeout
    clock = _Clock(time.monotonic())
    deadline = clock.start + timeout
    inspect = ssh.login_line(machine, settings.known_hosts)
    settings.known_hosts.parent.mkdir(parents=True, exist_ok=True)
    argv = ssh.command(machine, settings.known_hosts, "cloud-init", "status", "--wait")
    last_error = ""
    while True:
        finished = _run_with_progress(argv, machine, clock, deadline, progress)
        if finished is not None:
            returncode, output = finished
            if returncode == 0 or (returncode == 2 and "status: done" in output):
                note = " (with recoverable errors)" if returncode == 2 else ""
                progress(f"  {machine.role:<11} cloud-init done{note} ({clock.elapsed():.0f}s)")
                return
            if returncode != 255:
                raise ProviderError(
                    f"{machine.role} ({machine.name}): cloud-init reported an error: {output or returncode}",
                    f"inspect it with: {inspect} sudo cloud-init status --long; "
                    "sudo tail -n 50 /var/log/cloud-init-output.log",
                )
            if "REMOTE HOST IDENTIFICATION HAS CHANGED" in output:
                raise ProviderError(
                    f"{machine.role} ({machine.name}): its SSH host key differs from the one remembered in "
                    f"{settings.known_hosts}",
                    "if the machine was recreated outside the launcher, remove the old key with: "
                    f"ssh-keygen -R '{ssh.known_host_name(machine.address, machine.port)}' "
                    f"-f {settings.known_hosts}",
                )
            last_error = output.splitlines()[-1] if output else "ssh failed"
        if finished is None or time.monotonic() + RETRY_PAUSE >= deadline:
            raise WaitTimeout(
                f"{machine.role} ({machine.name}): cloud-init did not finish within {timeout:g}s"
                + (f" (last ssh error: {last_error})" if last_error else ""),
                f"inspect it with: {inspect} sudo cloud-init status --long",
            )
        if clock.due():
            progress(
                f"  {machine.role:<11} waiting for login as {machine.user} "
                f"({last_error}) ({clock.elapsed():.0f}s)"
            )
        time.sleep(RETRY_PAUSE)


def wait_for_machines(
    machines: Sequence[Machine],
    settings: Settings,
    *,
    new: Collection[str] = (),
    progress: Progress = say,
) -> None:
    """Wait for every machine (SSH, then cloud-init). ``new`` names machines created in this run: their
    old host keys (a recycled address or port) are forgotten first, unless the provider pinned the keys
    the machine printed (``host_key_checking`` yes: known_hosts already holds exactly those)."""
    for machine in machines:
        if machine.name in new and machine.host_key_checking != "yes":
            ssh.forget(settings.known_hosts, machine.address, machine.port)
    for machine in machines:
        if not machine.proxy_jump:
            wait_for_ssh_port(machine, settings.ssh_timeout, progress)
        wait_for_cloud_init(machine, settings, progress)
