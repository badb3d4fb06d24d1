"""Background work: the engine (workers.engine) and the Celery tasks that run it."""
