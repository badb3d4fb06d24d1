"""URL routes of the lab app."""
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.urls import path

from .views import auth, page_json, comparisons, examples, experiments, tasks

urlpatterns = [
    path("", lambda r: redirect("experiment-list"), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", auth.signup, name="signup"),
    path("tasks/", tasks.task_list, name="task-list"),
    path("tasks/new/", tasks.task_create, name="task-create"),
    path("tasks/<int:pk>/", tasks.task_detail, name="task-detail"),
    path("tasks/<int:pk>/edit/", tasks.task_edit, name="task-edit"),
    path("tasks/<int:pk>/delete/", tasks.task_delete, name="task-delete"),
    path("tasks/<int:pk>/copy/", tasks.task_copy, name="task-copy"),
    path("tasks/<int:pk>/preview.json", tasks.task_preview_json, name="task-preview"),
    path("tasks/<int:pk>/examples/add/", examples.example_add, name="example-add"),
    path("tasks/<int:pk>/examples/<int:ex_id>/edit/", examples.example_edit, name="example-edit"),
    path("tasks/<int:pk>/examples/<int:ex_id>/delete/", examples.example_delete, name="example-delete"),
    path("tasks/<int:pk>/import/", examples.import_file, name="task-import"),
    path("tasks/<int:pk>/import-hub/", examples.import_hub, name="task-import-hub"),
    path("experiments/", experiments.experiment_list, name="experiment-list"),
    path("experiments/new/", experiments.experiment_create, name="experiment-create"),
    path("experiments/<int:pk>/", experiments.experiment_detail, name="experiment-detail"),
    path("experiments/<int:pk>/cancel/", experiments.experiment_cancel, name="experiment-cancel"),
    path("experiments/<int:pk>/runs/<int:run_id>/cancel/", experiments.run_cancel, name="run-cancel"),
    path("experiments/<int:pk>/runs/<int:run_id>/retry/", experiments.run_retry, name="run-retry"),
    path("experiments/<int:pk>/runs/<int:run_id>/adapter.zip", experiments.run_adapter, name="run-adapter"),
    path("experiments/<int:pk>/history.json", page_json.history_json, name="experiment-history"),
    path("experiments/<int:pk>/results.json", page_json.results_json, name="experiment-results"),
    path("experiments/<int:pk>/examples.json", page_json.examples_json, name="experiment-examples"),
    path("experiments/<int:pk>/export/<str:what>", comparisons.experiment_export, name="experiment-export"),
    path("compare/", comparisons.compare_page, name="compare"),
    path("compare/data.json", comparisons.compare_data, name="compare-data"),
    path("compare/export/<str:what>", comparisons.compare_export, name="compare-export"),
]
