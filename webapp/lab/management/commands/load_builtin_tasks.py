"""`manage.py load_builtin_tasks`: load the engine's task packs and the benchmark presets."""
from django.core.management.base import BaseCommand

from webapp.lab.services.builtin import load_all


class Command(BaseCommand):
    help = "Load built-in task packs and benchmark presets (idempotent)."

    def handle(self, *args, **options):
        changed, same = load_all()
        self.stdout.write(f"built-in tasks: {changed} created/updated, {same} unchanged")
