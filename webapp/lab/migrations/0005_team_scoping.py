"""Tasks and experiments belong to a team (issue 11).

Every existing user gets a personal team (owner membership); every user task and every
experiment moves into its owner's personal team, nothing is dropped. Built-in tasks
(owner NULL) keep team NULL: readable by everyone, writable by nobody. Task names become
unique per team instead of per owner."""
from django.db import migrations, models
import django.db.models.deletion


def personal_teams(apps, schema_editor):
    User = apps.get_model("auth", "User")
    Team = apps.get_model("teams", "Team")
    Membership = apps.get_model("teams", "Membership")
    Task = apps.get_model("lab", "Task")
    Experiment = apps.get_model("lab", "Experiment")
    for user in User.objects.all().iterator():
        team = Team.objects.filter(personal=True, created_by=user).first()
        if team is None:
            team = Team.objects.create(name=f"{user.username} (personal)", personal=True, created_by=user)
            Membership.objects.create(team=team, user=user, role="owner")
        Task.objects.filter(owner=user, team__isnull=True).update(team=team)
        Experiment.objects.filter(owner=user, team__isnull=True).update(team=team)
    if schema_editor.connection.vendor == "postgresql":
        # check the deferred foreign keys now: the schema changes below cannot run with pending trigger events
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):

    dependencies = [
        ("lab", "0004_engine_defaults"),
        ("teams", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="team",
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE,
                                    related_name="tasks", to="teams.team"),
        ),
        migrations.AddField(
            model_name="experiment",
            name="team",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE,
                                    related_name="experiments", to="teams.team"),
        ),
        migrations.RunPython(personal_teams, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="experiment",
            name="team",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="experiments",
                                    to="teams.team"),
        ),
        migrations.RemoveConstraint(model_name="task", name="task_unique_name_per_owner"),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.UniqueConstraint(fields=("team", "name"), name="task_unique_name_per_team"),
        ),
        migrations.AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(condition=models.Q(("team__isnull", False), ("owner__isnull", True),
                                                                 _connector="OR"),
                                              name="task_of_a_user_has_a_team"),
        ),
    ]
