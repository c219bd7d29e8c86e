"""Errors the command line turns into a person's message and an exit code (never a traceback)."""

from __future__ import annotations


class LauncherError(Exception):
    """An error with a message for people and a hint of what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(LauncherError):
    """Bad settings or options (exit code 2)."""

    exit_code = 2


class ProviderError(LauncherError):
    """The cloud or the local engine refused or failed (exit code 3)."""

    exit_code = 3


class WaitTimeout(LauncherError):
    """A machine did not become ready in time (exit code 4)."""

    exit_code = 4


class ConfigureError(LauncherError):
    """The configuration run failed on a host (exit code 5)."""

    exit_code = 5
