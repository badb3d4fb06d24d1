"""History of an experiment for a page opened mid-run and for websocket catch-up: the
"history" and "replay" messages of lab/progress_messages.py, read from the database."""
from django.conf import settings

from ..models import MetricPoint, Run, RunEvent
from ..progress_messages import history_message, replay_message, series_entry
from .downsample import downsample

MAX_REPLAY = 5000


def full_history(experiment, recent_events=200):
    """Run snapshots, recent events and every loss series (downsampled); three queries."""
    runs = list(experiment.runs.with_flags())  # has_adapter of each snapshot without a query per run
    series = {}
    last_point = 0
    rows = MetricPoint.objects.filter(run__experiment=experiment).order_by("run_id", "series", "step", "id")
    for point_id, run_id, name, step, value in rows.values_list("id", "run_id", "series", "step", "value").iterator():
        s = series.setdefault(str(run_id), {}).setdefault(name, ([], []))
        s[0].append(step)
        s[1].append(value)
        last_point = max(last_point, point_id)
    out_series = {}
    for run_id, by_name in series.items():
        out_series[run_id] = {}
        for name, (steps, values) in by_name.items():
            x, y = downsample(steps, values, settings.LAB_MAX_CHART_POINTS)
            out_series[run_id][name] = series_entry(name, x, y, len(values))
    events = list(RunEvent.objects.filter(run__experiment=experiment).order_by("-id")[:recent_events])[::-1]
    return history_message(experiment.id, runs, events, out_series, last_point)


def replay_since(experiment_id, last_event=0, last_point=0):
    """Events and points newer than what a reconnecting client has seen."""
    events = RunEvent.objects.filter(run__experiment_id=experiment_id, id__gt=last_event or 0).order_by("id")
    points = MetricPoint.objects.filter(run__experiment_id=experiment_id, id__gt=last_point or 0).order_by("id")
    return replay_message(Run.objects.with_flags().filter(experiment_id=experiment_id), events[:MAX_REPLAY],
                          points[:MAX_REPLAY * 4])
