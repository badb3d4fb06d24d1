"""`manage.py reap_runs`: fail runs whose worker stopped sending heartbeats."""
from django.core.management.base import BaseCommand

from webapp.lab.services.lifecycle import reap_stale_runs


class Command(BaseCommand):
    help = "Mark running runs with a stale heartbeat as failed."

    def handle(self, *args, **options):
        reaped = reap_stale_runs()
        self.stdout.write(f"reaped {len(reaped)} run(s)")
