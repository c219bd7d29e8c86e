"""The live lines and the recap printed from ansible-runner events."""

from __future__ import annotations

from provisioner.runner import EventPrinter, RunResult, recap


def event(kind, **data):
    return {"event": kind, "event_data": data}


def test_one_line_per_task_and_host():
    lines: list[str] = []
    printer = EventPrinter(lines.append)
    assert printer(event("playbook_on_play_start", play="Configure prodserver")) is True
    printer(event("playbook_on_task_start", task="Install packages"))
    printer(
        event(
            "runner_on_ok",
            host="prodserver",
            task="Install packages",
            role="common",
            res={"changed": True},
            duration=3.25,
        )
    )
    printer(
        event(
            "runner_on_ok", host="devserver", task="Install packages", role="common", res={"changed": False}
        )
    )
    printer(event("runner_on_skipped", host="devserver", task="Only on prod"))
    printer(
        event(
            "runner_on_failed", host="prodserver", task="Start stack", res={"msg": "compose failed\nline 2"}
        )
    )
    printer(event("runner_on_failed", host="devserver", task="Probe", ignore_errors=True, res={"msg": "meh"}))
    printer(
        event(
            "runner_on_unreachable", host="devserver", task="Gather", res={"msg": "ssh: connection refused"}
        )
    )

    assert lines == [
        "PLAY Configure prodserver",
        "  changed     prodserver   common : Install packages (3.2s)",
        "  ok          devserver    common : Install packages",
        "  FAILED      prodserver   Start stack",
        "                           | compose failed",
        "                           | line 2",
        "  ignored     devserver    Probe",
        "  UNREACHABLE devserver    Gather",
        "                           | ssh: connection refused",
    ]


def test_skipped_tasks_show_with_verbose():
    lines: list[str] = []
    EventPrinter(lines.append, verbose=1)(event("runner_on_skipped", host="devserver", task="Only on prod"))
    assert lines == ["  skipped     devserver    Only on prod"]


def test_recap_and_verdict(tmp_path):
    stats = {
        "ok": {"prodserver": 12, "devserver": 8},
        "changed": {"prodserver": 3},
        "failures": {},
        "dark": {"devserver": 1},
        "skipped": {"prodserver": 1},
    }
    assert recap(stats) == [
        "  devserver    ok=8 changed=0 failed=0 unreachable=1 skipped=0 rescued=0 ignored=0",
        "  prodserver   ok=12 changed=3 failed=0 unreachable=0 skipped=1 rescued=0 ignored=0",
    ]
    assert not RunResult("successful", 0, stats, tmp_path, failed_hosts=["devserver"]).ok
    assert not RunResult("failed", 2, stats, tmp_path).ok
    assert RunResult("successful", 0, stats, tmp_path).ok
