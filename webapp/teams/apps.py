"""App config of the teams app: connects the personal-team signals."""
from django.apps import AppConfig


class TeamsConfig(AppConfig):
    name = "webapp.teams"
    label = "teams"
    verbose_name = "Teams and sharing"

    def ready(self):
        from . import signals  # noqa: F401
