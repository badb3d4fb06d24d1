"""A small world for the access tests: team T (owner, editor, viewer) with a task, an
unused task, an experiment launched by the editor (one finished run with results, one
queued run), share links (active, revoked, expired); team U of an outsider with its own
task and experiment; a built-in task."""
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings

from django.contrib.auth import get_user_model
from django.utils import timezone

from webapp.lab.models import Artifact, EvalResult, Experiment, LayerSimilarity, Prediction, Run
from webapp.teams import services
from webapp.teams.models import Membership

from .conftest import make_task

ROLES = ("anon", "viewer", "editor", "owner", "outsider", "share")


@dataclass
class World:
    users: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    api_tokens: dict = field(default_factory=dict)  # role -> personal API token (webapp/api)


def finished_run(exp, task, method="sft", n=4, seed=0, accuracy=0.75):
    run = Run.objects.create(experiment=exp, method=method, n=n, seed=seed, state=Run.DONE, stage="done", step=1,
                             total=1)
    res = EvalResult.objects.create(run=run, eval_task=task, eval_task_name=task.name, accuracy=accuracy, ece=0.1,
                                    ece_equal_mass=0.12, brier=0.2, nll=0.5, mean_similarity=0.9, n_layers=2,
                                    reliability=[{"bin_lower": 0.0, "bin_upper": 1.0, "confidence": 0.7,
                                                  "accuracy": accuracy, "count": 4}])
    if method != "icl":  # ICL is the reference the similarity is measured against
        LayerSimilarity.objects.bulk_create(LayerSimilarity(result=res, layer=i, cosine=0.9, cka=0.8)
                                            for i in range(2))
    Prediction.objects.bulk_create(
        Prediction(result=res, index=i, input=f"example {i}", gold="positive", predicted="positive",
                   confidence=0.7, correct=True) for i in range(4))
    if method != "icl":  # a trained run stores its adapter
        relative = f"runs/{run.pk}/adapter/adapter_model.safetensors"
        path = Path(settings.MEDIA_ROOT) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"weights")
        Artifact.objects.create(run=run, kind="adapter", path=relative, sha256="0" * 64, size=7)
    return run


def build_world():
    User = get_user_model()
    w = World()
    for name in ("owner", "editor", "viewer", "outsider"):
        w.users[name] = User.objects.create_user(f"{name}-u", email=f"{name}@example.org", password="pw")
    User.objects.create_user("newbie", email="newbie@example.org", password="pw")
    team = services.create_team(w.users["owner"], "T")
    services.invite(w.users["owner"], team, "editor-u", Membership.EDITOR)
    services.invite(w.users["owner"], team, "viewer-u", Membership.VIEWER)
    other = services.create_team(w.users["outsider"], "U")
    task = make_task(w.users["editor"], name="t-task", team=team)
    unused = make_task(w.users["owner"], name="t-unused", team=team)
    exp = Experiment.objects.create(owner=w.users["editor"], team=team, name="t-exp", train_task=task,
                                    methods=["sft"], n_values=[4])
    exp.eval_tasks.set([task])
    done = finished_run(exp, task)
    queued = Run.objects.create(experiment=exp, method="icl", n=4, seed=0)
    u_task = make_task(w.users["outsider"], name="u-task", team=other)
    u_exp = Experiment.objects.create(owner=w.users["outsider"], team=other, name="u-exp", train_task=u_task,
                                      methods=["sft"], n_values=[4])
    u_exp.eval_tasks.set([u_task])
    link, token = services.create_share_link(w.users["editor"], exp, "reviewers")
    revoked, revoked_token = services.create_share_link(w.users["editor"], exp, "old")
    services.revoke_share_link(w.users["owner"], revoked)
    expired, expired_token = services.create_share_link(w.users["editor"], exp, "short", expires_in_days=1)
    expired.expires_at = timezone.now() - timedelta(seconds=1)
    expired.save(update_fields=["expires_at"])
    w.objects.update(team=team, other=other, task=task, unused=unused, exp=exp, queued=queued, done=done, u_task=u_task,
                     u_exp=u_exp, link=link, example=task.examples.first(),
                     viewer_membership=Membership.objects.get(team=team, user=w.users["viewer"]),
                     builtin=make_task(None, name="builtin-pack", builtin=True))
    w.tokens.update(valid=token, revoked=revoked_token, expired=expired_token)
    from webapp.api.services import create_token

    for role in ("owner", "editor", "viewer", "outsider"):
        row, w.api_tokens[role] = create_token(w.users[role], f"{role}'s script")
        w.objects[f"{role}_api_token"] = row
    return w


def client_for(role, world, client_class):
    """A test client signed in as `role` with its team as the current team ("anon" and
    "share": no session; the share holder only has the token)."""
    from webapp.teams.services import SESSION_KEY

    c = client_class()
    if role in ("anon", "share"):
        return c
    c.force_login(world.users[role])
    session = c.session
    session[SESSION_KEY] = (world.objects["other"] if role == "outsider" else world.objects["team"]).pk
    session.save()
    return c
