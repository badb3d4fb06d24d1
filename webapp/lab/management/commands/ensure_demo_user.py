"""`manage.py ensure_demo_user`: create user `demo` (password from DEMO_PASSWORD, default `demo`)
with a personal space and a "demo" team holding editable copies of the built-in tasks; in the
local single-machine mode only (settings.LAB_DEMO_USER): a team server has no demo account."""
import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo user if missing (password from env DEMO_PASSWORD, default 'demo')."

    def handle(self, *args, **options):
        if not settings.LAB_DEMO_USER:
            self.stdout.write("no demo user in team mode; create accounts with `manage.py createsuperuser`")
            return
        User = get_user_model()
        password = os.environ.get("DEMO_PASSWORD", "demo")
        user, created = User.objects.get_or_create(username="demo")
        if created:
            user.set_password(password)
            user.save()
            self.stdout.write("created user demo")
        else:
            self.stdout.write("user demo exists")
        from webapp.teams.services import ensure_demo_team

        team, copied = ensure_demo_team(user)
        self.stdout.write(f'team "{team}": {copied} built-in task(s) copied')
