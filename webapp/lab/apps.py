"""App config for the lab app."""
from django.apps import AppConfig


class LabConfig(AppConfig):
    name = "webapp.lab"
    label = "lab"
    verbose_name = "ICL / SFT / IA2 lab"
