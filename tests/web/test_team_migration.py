"""The data migration puts every existing user's tasks and experiments into a new
personal team (nothing lost), leaves the built-in tasks team-less, and is repeatable."""
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

LAB_BEFORE = ("lab", "0004_engine_defaults")
AFTER = [("lab", "0005_team_scoping"), ("teams", "0001_initial")]


@pytest.mark.django_db(transaction=True)
def test_existing_data_moves_into_personal_teams():
    executor = MigrationExecutor(connection)
    executor.migrate([("teams", None)])  # unapplies lab 0005 (which depends on it) too
    old = executor.loader.project_state([LAB_BEFORE]).apps
    User, Task, Experiment = (old.get_model("auth", "User"), old.get_model("lab", "Task"),
                              old.get_model("lab", "Experiment"))
    alice, bob = User.objects.create(username="alice"), User.objects.create(username="bob")
    builtin = Task.objects.create(owner=None, name="pack", builtin=True)
    tasks = {u.username: Task.objects.create(owner=u, name="same-name") for u in (alice, bob)}
    exps = {u.username: Experiment.objects.create(owner=u, train_task=tasks[u.username], methods=["sft"],
                                                  n_values=[4]) for u in (alice, bob)}

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Team, Membership = new.get_model("teams", "Team"), new.get_model("teams", "Membership")
    Task, Experiment = new.get_model("lab", "Task"), new.get_model("lab", "Experiment")
    for name in ("alice", "bob"):
        team = Team.objects.get(personal=True, created_by__username=name)
        assert list(Membership.objects.filter(team=team).values_list("user__username", "role")) == [(name, "owner")]
        assert Task.objects.get(pk=tasks[name].pk).team_id == team.pk
        assert Experiment.objects.get(pk=exps[name].pk).team_id == team.pk
    assert Task.objects.get(pk=builtin.pk).team_id is None
    assert Task.objects.count() == 3 and Experiment.objects.count() == 2
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
