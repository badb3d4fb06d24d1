"""App config for the lab app."""
from django.apps import AppConfig


class LabConfig(AppConfig):
    name = "webapp.lab"
    label = "lab"
    verbose_name = "ICL / SFT / IA2 lab"

    def ready(self):
        from .services import artifacts  # noqa: F401 - its receiver removes the files of deleted Artifact rows
