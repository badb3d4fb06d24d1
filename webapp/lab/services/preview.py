"""The prompt preview: what the model sees for one pool example, built by the engine's own
prompt builder (`workers.engine.tasks`: `icl_prompt` and `Task.demo`, torch-free), so the
page shows byte for byte what the engine feeds the model.

ICL: the first k pool examples other than the query as demonstrations, then the query.
SFT: the query followed by its answer (the engine tokenizes the two parts separately and
puts the loss on the answer tokens)."""
from workers.engine.tasks import icl_prompt


class PreviewError(ValueError):
    """A bad preview request: `field` names the parameter, the message says the fix."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def preview(task, index, k, template=None):
    """{"icl", "sft"} for pool example `index` (0-based) with k demonstrations; `template`
    overrides the task's input template (the page previews an edit before it is saved)."""
    engine_task = task.to_engine_task()
    if template is not None:
        template = template.replace("\r\n", "\n")
        if "{x}" not in template:
            raise PreviewError("template", "the template must contain {x} where the example input goes")
        engine_task.input_template = template
    pool = engine_task.examples
    if not pool:
        raise PreviewError("index", "the task has no pool examples yet: add some first")
    if not 0 <= index < len(pool):
        raise PreviewError("index", f"choose a query example between 1 and {len(pool)}")
    if k < 0:
        raise PreviewError("k", "the number of demonstrations cannot be negative")
    query = pool[index]
    demos = [e for i, e in enumerate(pool) if i != index][:k]
    return {"icl": icl_prompt(engine_task, demos, engine_task, query.input),
            "sft": engine_task.demo(query.input, query.output)}
