"""URL routes of the teams app (included at the site root)."""
from django.urls import path

from . import views

urlpatterns = [
    path("teams/", views.team_list, name="team-list"),
    path("teams/switch/", views.team_switch, name="team-switch"),
    path("teams/<int:pk>/", views.team_detail, name="team-detail"),
    path("teams/<int:pk>/invite/", views.member_invite, name="team-invite"),
    path("teams/<int:pk>/members/<int:member_id>/role/", views.member_role, name="team-member-role"),
    path("teams/<int:pk>/members/<int:member_id>/remove/", views.member_remove, name="team-member-remove"),
    path("teams/<int:pk>/leave/", views.team_leave, name="team-leave"),
    path("teams/<int:pk>/audit/", views.team_audit, name="team-audit"),
    path("tasks/<int:pk>/move/", views.task_move, name="task-move"),
    path("experiments/<int:pk>/delete/", views.experiment_delete, name="experiment-delete"),
    path("experiments/<int:pk>/copy/", views.experiment_copy, name="experiment-copy"),
    path("experiments/<int:pk>/move/", views.experiment_move, name="experiment-move"),
    path("experiments/<int:pk>/share/", views.share_create, name="share-create"),
    path("experiments/<int:pk>/share/<int:link_id>/revoke/", views.share_revoke, name="share-revoke"),
    # read-only share links: no account; only this experiment's page and its JSON
    path("s/<str:token>/", views.shared_experiment, name="share-page"),
    path("s/<str:token>/history.json", views.shared_history, name="share-history"),
    path("s/<str:token>/results.json", views.shared_results, name="share-results"),
    path("s/<str:token>/examples.json", views.shared_examples, name="share-examples"),
    path("s/<str:token>/runs/<int:run_id>/adapter.zip", views.shared_adapter, name="share-adapter"),
]
