"""Every user has a personal team from the moment it exists, and an object created
without a team lands in its creator's personal team (code paths that predate teams,
such as the fixtures and the CLI, keep working and nothing is ever team-less). A user
deactivated or deleted (the admin, a shell) loses their open live pages at once, and so
does a member removed from a team, whatever the path (page, API, admin, shell); every
membership change writes its audit line here, once, with the actor of
`services.acting_as` (none from a shell)."""
from django.conf import settings
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from webapp.lab.models import Experiment, Task
from webapp.lab.services import broadcast

from .models import Membership, Team
from .services import membership_actor, personal_team, record


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


def _audit(membership, verb, **details):
    user = membership.user
    record(membership_actor(), membership.team, verb, user, object_type="user", label=user.username, **details)


def _founding(membership):
    """The team's first membership (create_team, personal_team): its "create" line says it."""
    return not Membership.objects.filter(team_id=membership.team_id).exclude(pk=membership.pk).exists()


@receiver(pre_save, sender=Membership)
def _remember_the_role(sender, instance, raw=False, **kwargs):
    old = None if raw or instance.pk is None else (
        Membership.objects.filter(pk=instance.pk).values_list("role", flat=True).first())
    instance._saved_role = old


@receiver(post_save, sender=Membership)
def _audit_membership_saved(sender, instance, created, raw=False, **kwargs):
    if raw:
        return
    if created:
        if not _founding(instance):
            _audit(instance, "invite", role=instance.role)
        return
    old = getattr(instance, "_saved_role", None)
    if old is not None and old != instance.role:
        _audit(instance, "role", old=old, new=instance.role)
        broadcast.recheck_access(broadcast.user_group(instance.user_id))


def _membership_delete(origin):
    """Deleted as memberships (an instance or a queryset), not in a team's or user's cascade."""
    return isinstance(origin, Membership) or getattr(origin, "model", None) is Membership


@receiver(post_delete, sender=Membership)
def _removed_members_lose_their_live_pages(sender, instance, origin=None, **kwargs):
    broadcast.recheck_access(broadcast.user_group(instance.user_id))
    if _membership_delete(origin) and Team.objects.filter(pk=instance.team_id).exists():
        actor = membership_actor()
        _audit(instance, "leave" if actor is not None and actor.pk == instance.user_id else "remove")
