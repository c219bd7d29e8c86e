"""Test hooks stay out of the production images: no setting of the app reads MLAPP_TEST_TASK_DELAY or
PREDICT_TASK, nothing in app/ (the build context of both images) defines the benchmark's reload-per-task
task or a task delay, and the Dockerfile's targets copy only app/mlapp and gunicorn.conf.py from it. The
hooks live in tests/integration/app/mlapp_testhooks."""

from __future__ import annotations

import dataclasses
import re

from mlapp.config import Config

# the hooks' environment variables and the benchmark's task ("PREDICT_TASK" quoted: the variable, not the
# constant mlapp.celery_app.PREDICT_TASK naming the real task)
HOOK_WORDS = ("MLAPP_TEST_", '"PREDICT_TASK"', "predict_reload")


def test_no_setting_of_the_app_is_a_test_hook():
    env = {"PREDICT_TASK": "model.predict_reload_each_time", "MLAPP_TEST_TASK_DELAY": "60"}
    config = Config.from_env(env)
    assert config == dataclasses.replace(Config.from_env({}), secret_key=config.secret_key)
    names = {f.name for f in dataclasses.fields(Config)}
    assert not names & {"predict_task", "test_task_delay"}


def test_nothing_in_the_build_context_mentions_a_test_hook(mlapp_repo):
    context = mlapp_repo / "app"  # the build context of both images
    hits = []
    for path in sorted(p for p in context.rglob("*.py") if "__pycache__" not in p.parts):
        text = path.read_text()
        hits += [f"{path.relative_to(context)}: {word}" for word in HOOK_WORDS if word in text]
    assert hits == []
    assert not list(context.rglob("mlapp_testhooks"))


def test_image_targets_copy_only_the_app_package(mlapp_repo):
    dockerfile = (mlapp_repo / "app" / "Dockerfile").read_text()
    targets = dict(re.findall(r"^FROM \S+ AS (\S+)\n(.*?)(?=^FROM |\Z)", dockerfile, re.M | re.S))
    for target in ("web", "worker"):
        sources = [
            line.split()[1:-1]
            for line in targets[target].splitlines()
            if line.startswith("COPY") and "--from=" not in line
        ]
        assert all(src in ("mlapp", "gunicorn.conf.py") for srcs in sources for src in srcs), sources
