"""Admin registrations (read-mostly views of the lab tables)."""
from django.contrib import admin

from . import models

for model in (models.Task, models.Example, models.Experiment, models.Run, models.EvalResult, models.Artifact):
    admin.site.register(model)
