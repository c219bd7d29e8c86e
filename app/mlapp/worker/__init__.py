"""The Celery worker: owns the model (loaded once per process, reloaded when the file changes) and runs
the tasks the web sends by name. Start it with `celery -A mlapp.worker.main worker`."""
