"""`manage.py sweep_artifacts`: the periodic pass's orphan sweep by hand (artifact files no run
records, older than the grace period: lab/services/artifacts.sweep); --dry-run only reports."""
from django.core.management.base import BaseCommand

from webapp.lab.services.artifacts import sweep


class Command(BaseCommand):
    help = "Report and remove artifact files that no run records, older than LAB_ARTIFACT_GRACE seconds."

    def add_arguments(self, parser):
        parser.add_argument("--grace", type=int, default=None, help="seconds (default LAB_ARTIFACT_GRACE)")
        parser.add_argument("--dry-run", action="store_true", help="report only")

    def handle(self, *args, grace=None, dry_run=False, **options):
        found = sweep(grace=grace, dry_run=dry_run)
        for rel, size in found:
            self.stdout.write(f"{rel}\t{size}")
        verb = "found" if dry_run else "removed"
        self.stdout.write(f"{verb} {len(found)} orphan artifact(s), {sum(s for _, s in found)} bytes")
