"""Build the engine's config dict (CONTRACT.md, 'Config') from experiment settings."""
from ..defaults import SIMILARITY_SIZE


def build_config(*, model_name, train_task, eval_tasks, methods, n_values, seeds, icl_demos, eval_size,
                 adapter_type, lora_r, lora_alpha, target_modules, similarity_size=None):
    """Tasks are passed inline (from the DB) so user-made and edited tasks work as shown."""
    config = {
        "model": model_name,
        "task": train_task.to_engine_dict(),
        "eval_tasks": [t.to_engine_dict() for t in eval_tasks] or [train_task.to_engine_dict()],
        "methods": list(methods),
        "n": [int(n) for n in n_values],
        "seeds": list(range(int(seeds))),
        "eval_size": int(eval_size),
        "similarity_size": min(int(eval_size), SIMILARITY_SIZE) if similarity_size is None else int(similarity_size),
        "adapter": {
            "type": adapter_type,
            "r": int(lora_r),
            "alpha": int(lora_alpha),
            "target_modules": list(target_modules),
        },
    }
    if icl_demos is not None:
        config["icl_demos"] = int(icl_demos)
    return config
