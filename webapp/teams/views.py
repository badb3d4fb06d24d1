"""Team pages (members, roles, audit log, switcher), share links, and the copy / move /
delete actions on tasks and experiments. Access: permissions.py only; reads: selectors.py
(and the lab's selectors and responses for a shared experiment); writes: services.py."""
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from webapp.lab import responses
from webapp.lab import selectors as lab_selectors
from webapp.lab.forms import describe_errors
from webapp.lab.run_rows import run_rows_html
from webapp.lab.services import provenance, run_actions

from . import permissions, selectors, services
from .forms import InviteForm, RoleForm, ShareLinkForm, TeamForm
from .models import Membership
from .services import TeamError


# --- teams ------------------------------------------------------------------------

@login_required
def team_list(request):
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = services.create_team(request.user, form.cleaned_data["name"])
        except TeamError as exc:
            messages.error(request, str(exc))
            return redirect("team-list")
        messages.success(request, f'Team "{team}" created; invite members below. The header still shows your '
                                  'current team: switch to this one when you want to work in it.')
        return redirect("team-detail", pk=team.pk)
    return render(request, "teams/team_list.html", {"rows": selectors.team_rows(request.user), "form": form})


@login_required
def team_detail(request, pk):
    team = permissions.get_team_or_404(request.user, pk)
    manage = permissions.can(request.user, "manage", team)
    return render(request, "teams/team_detail.html", {
        "team": team,
        "members": selectors.members(team),
        "my_role": permissions.role(request.user, team),
        "can_manage": manage,
        "can_audit": permissions.can(request.user, "audit", team),
        "invite_form": InviteForm() if manage else None,
        "roles": Membership.ROLE_CHOICES,
    })


@login_required
@require_POST
def team_switch(request):
    """The one way the header's team changes: the switcher, or the offer on an object of
    another team (teams/_other_team.html), which comes back to that object's page."""
    team = permissions.get_team_or_404(request.user, request.POST.get("team") or 0)
    request.session[services.SESSION_KEY] = team.pk
    nxt = request.POST.get("next") or ""
    local = nxt.startswith("/") and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()})
    return redirect(nxt if local else "experiment-list")


@login_required
@require_POST
def member_invite(request, pk):
    team = permissions.get_team_or_404(request.user, pk, "manage")
    form = InviteForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give a username or e-mail address and a role.")
    else:
        try:
            m = services.invite(request.user, team, form.cleaned_data["who"], form.cleaned_data["role"])
            messages.success(request, f"{m.user.username} joined as {m.role}.")
        except TeamError as exc:
            messages.error(request, str(exc))
    return redirect("team-detail", pk=team.pk)


def _membership(request, pk, member_id, action="manage"):
    team = permissions.get_team_or_404(request.user, pk, action)
    return selectors.membership_or_404(team, pk=member_id)


@login_required
@require_POST
def member_role(request, pk, member_id):
    membership = _membership(request, pk, member_id)
    form = RoleForm(request.POST)
    try:
        if not form.is_valid():
            raise TeamError("Choose a role: owner, editor or viewer.")
        services.change_role(request.user, membership, form.cleaned_data["role"])
        messages.success(request, f"{membership.user.username} is now {form.cleaned_data['role']}.")
    except TeamError as exc:
        messages.error(request, str(exc))
    return redirect("team-detail", pk=pk)


@login_required
@require_POST
def member_remove(request, pk, member_id):
    membership = _membership(request, pk, member_id)
    try:
        services.remove_member(request.user, membership)
        messages.success(request, f"{membership.user.username} was removed; the team's results stay.")
    except TeamError as exc:
        messages.error(request, str(exc))
    if membership.user_id == request.user.pk and not Membership.objects.filter(pk=membership.pk).exists():
        return redirect("team-list")
    return redirect("team-detail", pk=pk)


@login_required
@require_POST
def team_leave(request, pk):
    team = permissions.get_team_or_404(request.user, pk)
    membership = selectors.membership_or_404(team, user=request.user)
    try:
        services.remove_member(request.user, membership)
    except TeamError as exc:
        messages.error(request, str(exc))
        return redirect("team-detail", pk=team.pk)
    if request.session.get(services.SESSION_KEY) == team.pk:
        request.session.pop(services.SESSION_KEY)
    messages.success(request, f'You left "{team}"; its results stay with the team.')
    return redirect("team-list")


@login_required
def team_audit(request, pk):
    team = permissions.get_team_or_404(request.user, pk, "audit")
    page = Paginator(selectors.audit_events(team), 100).get_page(request.GET.get("page"))
    return render(request, "teams/audit.html", {"team": team, "page": page})


# --- experiments and tasks: share, copy, move, delete -----------------------------

@login_required
@require_POST
@never_cache
def share_create(request, pk):
    """Create a link and show its token this once (rendered, never redirected or stored)."""
    exp = permissions.get_experiment_or_404(request.user, pk, "share")
    form = ShareLinkForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Share link not created: {describe_errors(form)}. The expiry is a number of days "
                                "from 1 to 3650 (empty: until revoked); the label at most 120 characters.")
        return redirect("experiment-detail", pk=exp.pk)
    try:
        link, token = services.create_share_link(request.user, exp, form.cleaned_data["label"] or "",
                                                 form.cleaned_data["expires_in_days"])
    except TeamError as exc:
        messages.error(request, f"Share link not created: {exc}")
        return redirect("experiment-detail", pk=exp.pk)
    url = request.build_absolute_uri(f"/s/{token}/")
    response = render(request, "teams/share_created.html", {"experiment": exp, "link": link, "url": url})
    response["Referrer-Policy"] = "no-referrer"
    return response


@login_required
@require_POST
def share_revoke(request, pk, link_id):
    exp = permissions.get_experiment_or_404(request.user, pk, "share")
    link = selectors.share_link_or_404(exp, link_id)
    services.revoke_share_link(request.user, link)
    messages.success(request, f'Share link "{link}" revoked: it answers 404 from now on.')
    return redirect("experiment-detail", pk=exp.pk)


@login_required
@require_POST
def experiment_delete(request, pk):
    exp = permissions.get_experiment_or_404(request.user, pk, "delete")
    name = str(exp)
    running = services.delete_experiment(request.user, exp, run_actions.cancel_unfinished)
    if running:
        messages.warning(request, f"Cancelling {running} running run(s) of {name}; delete again once they "
                                  "have stopped (a few seconds).")
        return redirect("experiment-detail", pk=pk)
    messages.success(request, f'Deleted "{name}" with its runs, results and artifacts.')
    return redirect("experiment-list")


@login_required
@require_POST
def experiment_copy(request, pk):
    """Fork an experiment's configuration (not its results) into a team the user may launch
    in: its team tasks are copied there, and the experiment form opens prefilled with its
    spec (services.copy_experiment_spec)."""
    exp = permissions.get_experiment_or_404(request.user, pk)
    team = permissions.get_team_or_404(request.user, request.POST.get("team") or 0, "copy_into")
    spec = services.copy_experiment_spec(request.user, exp, team)
    request.session[services.SESSION_KEY] = team.pk
    request.session[services.PREFILL_KEY] = spec.model_dump(mode="json")
    messages.info(request, f'Configuration of "{exp}" copied into {team}, now the header\'s team (the form '
                           'launches there): check it and launch.')
    return redirect("experiment-create")


@login_required
@require_POST
def experiment_move(request, pk):
    exp = permissions.get_experiment_or_404(request.user, pk)
    team = permissions.get_team_or_404(request.user, request.POST.get("team") or 0)
    if not permissions.can_move(request.user, exp, team):
        raise permissions.PermissionDenied("Only its creator can move an experiment from their personal space "
                                           "into a team where they are an editor or owner.")
    services.move_experiment(request.user, exp, team)  # the header's team stays: the page offers the switch
    messages.success(request, f'"{exp}" moved into {team}.')
    return redirect("experiment-detail", pk=exp.pk)


@login_required
@require_POST
def task_move(request, pk):
    task = permissions.get_task_or_404(request.user, pk)
    team = permissions.get_team_or_404(request.user, request.POST.get("team") or 0)
    if task.team_id is None or not permissions.can_move(request.user, task, team):
        raise permissions.PermissionDenied("Only its creator can move a task from their personal space into a "
                                           "team where they are an editor or owner.")
    try:
        services.move_task(request.user, task, team)
    except TeamError as exc:
        messages.error(request, str(exc))
        return redirect("task-detail", pk=task.pk)
    messages.success(request, f'"{task}" moved into {team}.')  # the header's team stays: the page offers it
    return redirect("task-detail", pk=task.pk)


# --- the share-link routes: no account, one experiment, read-only -----------------

def _shared(token):
    link = services.resolve_share_link(token)
    if link is None:
        raise Http404("This link does not exist, was revoked or has expired.")
    return link.experiment


def _no_referrer(response):
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


@never_cache
def shared_experiment(request, token):
    exp = _shared(token)
    return _no_referrer(render(request, "lab/experiment_detail.html", {
        "experiment": exp,
        "runs_html": run_rows_html(request, exp, can_cancel=False, runs_base=f"/s/{token}/runs/"),
        "eval_tasks": lab_selectors.eval_task_names(exp),
        "provenance": provenance.describe(exp),
        "max_attempts": settings.LAB_MAX_ATTEMPTS,
        "shared": True,
    }))


def shared_adapter(request, token, run_id):
    """A run's adapter zip for the holder of a share link (that experiment's runs only)."""
    exp = _shared(token)
    return _no_referrer(responses.adapter_response(exp, run_id))


def shared_history(request, token):
    return _no_referrer(responses.history_response(request, _shared(token)))


def shared_results(request, token):
    return _no_referrer(responses.results_response(request, _shared(token)))


def shared_examples(request, token):
    return _no_referrer(responses.examples_response(request, _shared(token)))
