"""`manage.py reap_runs`: one periodic pass by hand (reap runs whose worker stopped sending
heartbeats, then send queued runs that were committed but never sent)."""
from django.core.management.base import BaseCommand

from webapp.lab.services.reaper import periodic_pass


class Command(BaseCommand):
    help = "Reap runs with a stale heartbeat and send runs the dispatch outbox still holds."

    def handle(self, *args, **options):
        reaped, sent = periodic_pass()
        self.stdout.write(f"reaped {len(reaped)} run(s), sent {sent} pending run(s)")
