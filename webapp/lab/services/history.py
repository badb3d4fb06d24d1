"""History of an experiment for a page opened mid-run and for websocket catch-up."""
from django.conf import settings

from ..models import MetricPoint, RunEvent
from .downsample import downsample
from .events import serialize_event, serialize_point

MAX_REPLAY = 5000


def full_history(experiment, recent_events=200):
    """Run snapshots, recent events and every loss series (downsampled); three queries."""
    runs = list(experiment.runs.all())
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
            out_series[run_id][name] = {"steps": x, "values": y, "total_points": len(values)}
    events = list(RunEvent.objects.filter(run__experiment=experiment).order_by("-id")[:recent_events])[::-1]
    return {
        "experiment": experiment.id,
        "runs": [r.snapshot() for r in runs],
        "events": [serialize_event(e) for e in events],
        "series": out_series,
        "last_event": events[-1].id if events else 0,
        "last_point": last_point,
    }


def replay_since(experiment_id, last_event=0, last_point=0):
    """Events and points newer than what a reconnecting client has seen."""
    from ..models import Run

    events = RunEvent.objects.filter(run__experiment_id=experiment_id, id__gt=last_event or 0).order_by("id")
    points = MetricPoint.objects.filter(run__experiment_id=experiment_id, id__gt=last_point or 0).order_by("id")
    return {
        "type": "replay",
        "runs": [r.snapshot() for r in Run.objects.filter(experiment_id=experiment_id)],
        "events": [serialize_event(e) for e in events[:MAX_REPLAY]],
        "points": [serialize_point(p) for p in points[:MAX_REPLAY * 4]],
    }
