"""A test double of the broker boundary for the web's unit tests: the web app with a dispatcher that
answers in-process (a canned result, or the error the real Dispatcher would raise). The integration tests
keep the real broker and workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FakeDispatcher:
    """Answers every task from `answers` (task name -> result, or an exception to raise); records calls."""

    answers: dict[str, Any] = field(default_factory=dict)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def call(self, task: str, *args: Any, timeout: float | None = None) -> Any:
        self.calls.append((task, args))
        answer = self.answers[task]
        if isinstance(answer, BaseException):
            raise answer
        return answer
