"""The Celery worker: owns the model (loaded once per process, reloaded when the file changes) and runs
the tasks the web sends by name. Start it with `python -m mlapp.worker` (its node name from MACHINE_HOST) or
`celery -A mlapp.worker.main worker`."""
