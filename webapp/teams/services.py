"""Writes of the teams app: teams and memberships, share links, copies, moves and deletes.
Each write that matters records an AuditEvent in the same transaction."""
import contextvars
import secrets
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from webapp.lab.services import broadcast, quotas
from webapp.lab.services.naming import copy_name

from .models import AuditEvent, Membership, ShareLink, Team, hash_token

SESSION_KEY = "current_team_id"


class TeamError(Exception):
    """A refused change, with a message for the user."""


def personal_team(user):
    """The user's personal space (created on first use; safe under concurrent first uses)."""
    team = Team.objects.filter(personal=True, created_by=user).first()
    if team is not None:
        return team
    try:
        with transaction.atomic():
            team = Team.objects.create(name=f"{user.username} (personal)", personal=True, created_by=user)
            Membership.objects.create(team=team, user=user, role=Membership.OWNER)
    except IntegrityError:
        team = Team.objects.get(personal=True, created_by=user)
    _forget(user)
    return team


def _forget(user):
    from .permissions import forget

    forget(user)


def current_team(request):
    """The team chosen in the header (kept in the session), else the personal space."""
    from .permissions import memberships

    cached = getattr(request, "_current_team", None)
    if cached is not None:
        return cached
    team_id = request.session.get(SESSION_KEY)
    mine = memberships(request.user)
    team = next((t for t, _ in mine if t.pk == team_id), None) if team_id else None
    if team is None:
        team = next((t for t, _ in mine if t.personal and t.created_by_id == request.user.pk), None)
    if team is None:
        team = personal_team(request.user)
    request._current_team = team
    return team


def record(actor, team, verb, obj=None, object_type=None, label=None, **details):
    """One audit line: who did what to which object of which team."""
    return AuditEvent.objects.create(
        team=team, actor=actor if actor is not None and actor.is_authenticated else None,
        actor_name=getattr(actor, "username", "") or "", verb=verb,
        object_type=object_type or (type(obj).__name__.lower() if obj is not None else ""),
        object_id=getattr(obj, "pk", None), object_label=str(label if label is not None else (obj or ""))[:300],
        details=details,
    )


# --- teams and members ------------------------------------------------------------

_membership_actor = contextvars.ContextVar("membership_actor", default=None)


@contextmanager
def acting_as(actor):
    """Who makes the membership changes inside the block. teams/signals.py writes the audit
    line of every membership change (services, admin, shell) and reads the actor here; a
    change made outside any block (a shell) is recorded with no actor."""
    token = _membership_actor.set(actor)
    try:
        yield
    finally:
        _membership_actor.reset(token)


def membership_actor():
    return _membership_actor.get()


def _within_cap(count, setting, what, fix):
    limit = getattr(settings, setting)
    if count >= limit:
        raise TeamError(f"You have {count} {what}, the limit ({setting} = {limit}): {fix}.")


@transaction.atomic
def create_team(user, name):
    """A new team owned by `user`, within LAB_MAX_TEAMS_PER_USER teams created by them."""
    name = (name or "").strip()
    if not name:
        raise TeamError("Give the team a name.")
    quotas.lock_user(user)
    _within_cap(Team.objects.filter(created_by=user, personal=False).count(), "LAB_MAX_TEAMS_PER_USER",
                "teams", "delete a team you no longer use, or ask an administrator to raise the limit")
    team = Team.objects.create(name=name[:120], created_by=user)
    Membership.objects.create(team=team, user=user, role=Membership.OWNER)
    record(user, team, "create", team)
    _forget(user)
    return team


def find_user(who):
    """A user by username or e-mail address (case-insensitive), or None."""
    who = (who or "").strip()
    if not who:
        return None
    User = get_user_model()
    field = "email__iexact" if "@" in who else "username__iexact"
    return User.objects.filter(**{field: who}).first()


def _allowed(actor, action, team):
    """TeamError with permissions.py's reason unless the actor may `action` the team."""
    from . import permissions

    why = permissions.refusal(actor, action, team)
    if why is not None:
        raise TeamError(why)


@transaction.atomic
def invite(actor, team, who, role):
    _allowed(actor, "manage", team)
    if role not in dict(Membership.ROLE_CHOICES):
        raise TeamError("Choose a role: owner, editor or viewer.")
    user = find_user(who)
    if user is None:
        raise TeamError(f'No user "{who}": ask them to sign up first, then invite their username or e-mail.')
    with acting_as(actor):  # the "invite" audit line: teams/signals.py
        membership, created = Membership.objects.get_or_create(team=team, user=user, defaults={"role": role})
    if not created:
        raise TeamError(f"{user.username} is already a member ({membership.role}).")
    return membership


def _owners_left(team, without):
    return Membership.objects.filter(team=team, role=Membership.OWNER).exclude(pk=without.pk).exists()


@transaction.atomic
def change_role(actor, membership, role):
    if role not in dict(Membership.ROLE_CHOICES):
        raise TeamError("Choose a role: owner, editor or viewer.")
    membership = Membership.objects.select_for_update().select_related("team", "user").get(pk=membership.pk)
    if membership.role == role:
        return membership
    list(Membership.objects.select_for_update().filter(team=membership.team, role=Membership.OWNER))
    if membership.role == Membership.OWNER and not _owners_left(membership.team, membership):
        raise TeamError("The last owner cannot be demoted: make another member owner first.")
    membership.role = role
    with acting_as(actor):  # the "role" audit line: teams/signals.py
        membership.save(update_fields=["role"])
    _forget(actor)
    return membership


@transaction.atomic
def remove_member(actor, membership):
    """Remove (or, when actor is the member, leave). The team's objects stay in the team."""
    membership = Membership.objects.select_for_update().select_related("team", "user").get(pk=membership.pk)
    team = membership.team
    _allowed(actor, "leave" if actor.pk == membership.user_id else "manage", team)
    list(Membership.objects.select_for_update().filter(team=team, role=Membership.OWNER))
    if membership.role == Membership.OWNER and not _owners_left(team, membership):
        raise TeamError("The last owner cannot leave or be removed: make another member owner first.")
    with acting_as(actor):  # the audit line and closing their live pages: teams/signals.py
        membership.delete()
    _forget(actor)


# --- share links ------------------------------------------------------------------

def live_share_links(user):
    """The share links `user` created that still open (not revoked, not expired)."""
    return ShareLink.objects.filter(created_by=user, revoked_at__isnull=True).exclude(expires_at__lte=timezone.now())


def create_share_link(actor, experiment, label="", expires_in_days=None):
    """Returns (link, token). The token is shown once; only its sha256 is stored. TeamError
    past LAB_MAX_SHARE_LINKS_PER_USER live links of the actor."""
    token = secrets.token_urlsafe(32)  # 256 bits
    expires = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    with transaction.atomic():
        quotas.lock_user(actor)
        _within_cap(live_share_links(actor).count(), "LAB_MAX_SHARE_LINKS_PER_USER", "live share links",
                    "revoke links you no longer need, or ask an administrator to raise the limit")
        link = ShareLink.objects.create(experiment=experiment, token_hash=hash_token(token), label=label[:120],
                                        expires_at=expires, created_by=actor)
        record(actor, experiment.team, "share", experiment, label=str(experiment), link=link.pk,
               link_label=link.label, expires_at=expires.isoformat() if expires else None)
    return link, token


def revoke_share_link(actor, link):
    with transaction.atomic():
        if ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now()):
            record(actor, link.experiment.team, "revoke", link.experiment, label=str(link.experiment),
                   link=link.pk, link_label=link.label)


OPENED_EVERY = timedelta(minutes=1)


def resolve_share_link(token):
    """The link this token opens (permissions.shared_link: None when unknown, revoked or
    expired), its opening noted at most once a minute."""
    from .permissions import shared_link

    link = shared_link(token)
    if link is None:
        return None
    now = timezone.now()
    if link.last_opened_at is None or now - link.last_opened_at > OPENED_EVERY:
        ShareLink.objects.filter(pk=link.pk).update(last_opened_at=now)
    return link


# --- copies, moves and deletes ----------------------------------------------------

@transaction.atomic
def copy_task(actor, src, team, name=None):
    """Fork a task with its examples into `team` (owned by the actor there). The copy keeps
    the name when it moves to another team, else it is marked "(copy)"."""
    from webapp.lab.models import Example, Task

    def taken(candidate):
        return Task.objects.filter(team=team, name=candidate).exists()

    keep = name or (src.name if src.team_id not in (None, team.pk) else None)
    if keep is None or taken(keep):
        keep = copy_name(keep or src.name, taken, Task._meta.get_field("name").max_length)
    name = keep
    task = Task.objects.create(
        owner=actor, team=team, name=name, description=src.description, input_template=src.input_template,
        kind=src.kind, labels=src.labels, answer_parser=src.answer_parser, needs_hub=False,
        hf_dataset=src.hf_dataset,
    )
    Example.objects.bulk_create(
        Example(task=task, position=e.position, split=e.split, input=e.input, output=e.output)
        for e in src.examples.all()
    )
    record(actor, team, "create", task, copied_from=src.pk)
    return task


PREFILL_KEY = "experiment_prefill"  # the session's copied spec, which the experiment form opens with once


@transaction.atomic
def copy_experiment_spec(actor, exp, team):
    """The spec of a copy of `exp` for a launch in `team` (lab/experiment_spec.derived: every
    setting, named "<name> (copy)" within the name's length), its tasks mapped there: the
    built-ins and `team`'s own are used as they are, other teams' tasks are copied in."""
    from webapp.lab.experiment_spec import derived

    tasks = {}
    for task in [exp.train_task, *exp.eval_tasks.all()]:
        if task.team_id is None or task.team_id == team.pk:
            tasks[task.pk] = task
        elif task.pk not in tasks:
            tasks[task.pk] = copy_task(actor, task, team)
    spec = derived(exp, "copy")
    return spec.model_copy(update={"train_task": tasks[spec.train_task].pk,
                                   "eval_tasks": [tasks[pk].pk for pk in spec.eval_tasks]})


@transaction.atomic
def move_task(actor, task, team):
    from webapp.lab.models import Experiment, Task

    if Experiment.objects.filter(train_task=task).exists() or Experiment.eval_tasks.through.objects.filter(
            task=task).exists():
        names = ", ".join(str(e) for e in Experiment.objects.filter(train_task=task)[:3])
        raise TeamError(f'"{task.name}" is used by an experiment ({names or "as an eval task"}): '
                        "move the experiment instead, or copy the task.")
    if Task.objects.filter(team=team, name=task.name).exists():
        raise TeamError(f'The team already has a task named "{task.name}": rename it first.')
    old = task.team
    Task.objects.filter(pk=task.pk).update(team=team)
    record(actor, team, "move", task, from_team=old.pk)
    record(actor, old, "move", task, to_team=team.pk)


@transaction.atomic
def move_experiment(actor, exp, team):
    """Moves the experiment with the personal tasks it uses (copied if they are used elsewhere)."""
    from webapp.lab.models import Experiment, Task

    old = exp.team
    remap = {}
    for task in [exp.train_task, *exp.eval_tasks.all()]:
        if task.team_id != old.pk or task.pk in remap:
            continue
        used_elsewhere = (Experiment.objects.filter(train_task=task).exclude(pk=exp.pk).exists()
                          or Experiment.eval_tasks.through.objects.filter(task=task)
                          .exclude(experiment=exp).exists())
        if used_elsewhere or Task.objects.filter(team=team, name=task.name).exists():
            remap[task.pk] = copy_task(actor, task, team)
        else:
            Task.objects.filter(pk=task.pk).update(team=team)
            remap[task.pk] = task
    if exp.train_task_id in remap:
        exp.train_task = remap[exp.train_task_id]
    evals = [remap.get(t.pk, t) for t in exp.eval_tasks.all()]
    exp.team = team
    exp.save(update_fields=["team", "train_task"])
    exp.eval_tasks.set(evals)
    broadcast.recheck_access(broadcast.experiment_group(exp.pk))  # members of the old team only
    record(actor, team, "move", exp, from_team=old.pk)
    record(actor, old, "move", exp, to_team=team.pk)


def delete_task(actor, task):
    from webapp.lab.models import Experiment

    users = list(Experiment.objects.filter(train_task=task)) + list(
        Experiment.objects.filter(eval_tasks=task).exclude(train_task=task))
    if users:
        names = ", ".join(f'"{e}" (#{e.pk})' for e in users[:5])
        raise TeamError(f'"{task.name}" is used by {names}: delete the experiment first.')
    with transaction.atomic():
        record(actor, task.team, "delete", task)
        task.delete()


def delete_experiment(actor, exp, cancel_all):
    """Cancel its live runs (`cancel_all(exp)`: lab's services.run_actions.cancel_unfinished,
    passed in because lab's services import this module), then (once none is running) delete
    it. Its artifact files go once the delete commits, those another experiment still uses
    excepted (lab/services/artifacts.py, on the Artifact rows' deletion). Returns the number
    of runs still running (then nothing is deleted yet)."""
    from webapp.lab.models import Run

    pk = exp.pk
    cancel_all(exp)
    running = exp.runs.filter(state=Run.RUNNING).count()
    if running:
        return running
    with transaction.atomic():
        record(actor, exp.team, "delete", exp, runs=exp.runs.count())
        broadcast.recheck_access(broadcast.experiment_group(pk))  # nothing left to watch
        exp.delete()
    return 0


def ensure_demo_team(user, name="demo"):
    """The local mode's demo user: a personal space (made by the signal) and a team holding
    editable copies of the built-in task packs (not the hub presets). Idempotent."""
    from webapp.lab.models import Task

    personal_team(user)
    team = Team.objects.filter(name=name, personal=False, memberships__user=user).first()
    if team is None:
        team = create_team(user, name)
    copied = 0
    for src in Task.objects.filter(team__isnull=True, needs_hub=False):
        if not Task.objects.filter(team=team, name=src.name).exists():
            copy_task(user, src, team, name=src.name)
            copied += 1
    return team, copied
