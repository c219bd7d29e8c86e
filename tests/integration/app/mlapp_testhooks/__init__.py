"""Test-only hooks of the app, kept out of every image: app/Dockerfile builds from app/ and copies
app/mlapp only, and this package lives under tests/. The production code has no switch that reaches them.

- mlapp_testhooks.worker: the production worker app (mlapp.worker.main) plus the benchmark's task
  "model.predict_reload_each_time" (the original lab's pattern) and, from the environment,
  MLAPP_TEST_TASK_DELAY (seconds each task sleeps first) and MLAPP_TEST_TASK_FAIL (each task raises a
  RuntimeError with this text, which holds a fake internal path: the web must not show it).
- `python -m mlapp_testhooks.run_worker`: as `python -m mlapp.worker`, on that app.
- mlapp_testhooks.web: the production web app with the API's predictions sent to another task
  (PREDICT_TASK), for the benchmark.
"""

PREDICT_RELOAD_TASK = "model.predict_reload_each_time"
