"""Every user has a personal team from the moment it exists, and an object created
without a team lands in its creator's personal team (code paths that predate teams,
such as the fixtures and the CLI, keep working and nothing is ever team-less). A user
deactivated or deleted (the admin, a shell) loses their open live pages at once."""
from django.conf import settings
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from webapp.lab.models import Experiment, Task
from webapp.lab.services import broadcast

from .services import personal_team


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _personal_team_on_signup(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        personal_team(instance)


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def _inactive_users_lose_their_live_pages(sender, instance, created, raw=False, **kwargs):
    if not created and not raw and not instance.is_active:
        broadcast.recheck_access(broadcast.user_group(instance.pk))


@receiver(post_delete, sender=settings.AUTH_USER_MODEL)
def _deleted_users_lose_their_live_pages(sender, instance, **kwargs):
    broadcast.recheck_access(broadcast.user_group(instance.pk))


@receiver(pre_save, sender=Task)
@receiver(pre_save, sender=Experiment)
def _default_team(sender, instance, raw=False, **kwargs):
    if raw or instance.team_id is not None or instance.owner_id is None:
        return
    instance.team = personal_team(instance.owner)
