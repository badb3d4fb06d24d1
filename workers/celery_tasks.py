"""Celery tasks: thin adapters from a Celery message to the web app's services.

The web app never imports this module: it sends tasks by name (`EXECUTE_RUN` in
`webapp.lab.services.dispatch`). Everything a task does lives in
`webapp.lab.services.lifecycle` (a run's life) and `webapp.lab.services.reaper`.
"""
from webapp.celery_app import app
from webapp.lab.services import lifecycle


@app.task(name="workers.celery_tasks.execute_run", acks_late=True, bind=True)
def execute_run(self, run_id):
    """One run per job; `redelivered` comes from the broker (see lifecycle.claim_redelivered)."""
    delivery = getattr(self.request, "delivery_info", None) or {}
    return lifecycle.run_job(int(run_id), redelivered=bool(delivery.get("redelivered")))
