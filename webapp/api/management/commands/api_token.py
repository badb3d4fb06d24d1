"""`manage.py api_token USERNAME [--name NAME]`: create a personal API token for a user and
print it (once; only its hash is stored). For scripts and CI; people use /account/tokens/."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from webapp.api.services import TokenError, create_token


class Command(BaseCommand):
    help = "Create a personal API token for a user and print it (it cannot be shown again)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="command line", help="what the token is for")

    def handle(self, username, name, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f'No user "{username}": create it first (manage.py createsuperuser, or sign up).')
        try:
            _, token = create_token(user, name)
        except TokenError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(token)
