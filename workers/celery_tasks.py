"""Celery tasks: thin adapters from a Celery message to the web app's services.

The web app never imports this module: it sends tasks by name (`webapp.celery_app`
holds the names). Everything a task does lives in `webapp.lab.services.lifecycle`.
"""
from webapp.celery_app import EXECUTE_RUN, REAP_STALE_RUNS, app
from webapp.lab.services import lifecycle, reaper


@app.task(name=EXECUTE_RUN, acks_late=True, bind=True)
def execute_run(self, run_id):
    """One run per job; `redelivered` comes from the broker (see lifecycle.claim_redelivered)."""
    delivery = getattr(self.request, "delivery_info", None) or {}
    return lifecycle.run_job(int(run_id), redelivered=bool(delivery.get("redelivered")))


@app.task(name=REAP_STALE_RUNS, acks_late=False)
def reap_stale_runs():
    """One periodic pass (Celery beat sends it every LAB_REAPER_INTERVAL seconds): reap dead
    attempts, then sweep the dispatch outbox; returns the ids of the reaped runs."""
    reaped, _sent = reaper.periodic_pass()
    return [run.id for run in reaped]
