"""Build the engine's config dict (CONTRACT.md, 'Config') from an experiment spec: each
field goes to its engine path (`Setting.engine` in experiment_spec.py), converted by its
`to_engine` where the engine wants another shape; a value of None is left out."""
from ..experiment_spec import ExperimentSpec, settings as spec_settings


def build_config(spec=None, /, *, train_task, eval_tasks=(), **values):
    """Tasks are passed inline (from the DB) so user-made and edited tasks work as shown.
    Pass a spec, or its settings as keywords (the task fields then come from the objects)."""
    eval_tasks = list(eval_tasks)
    if spec is None:
        spec = ExperimentSpec(train_task=train_task.pk, eval_tasks=[t.pk for t in eval_tasks], **values)
    config = {}
    for name, setting in spec_settings():
        value = getattr(spec, name)
        if setting.to_engine is not None:
            value = setting.to_engine(value, spec, (train_task, eval_tasks))
        elif isinstance(value, list):
            value = list(value)
        if setting.engine and value is not None:
            _put(config, setting.engine, value)
    return config


def _put(config, path, value):
    *parents, key = path.split(".")
    for part in parents:
        config = config.setdefault(part, {})
    config[key] = value
