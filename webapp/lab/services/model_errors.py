"""What the web tells a user about a model it cannot load.

The engine's load errors are written for the person at the machine: they say whether a
path exists, is a directory without config.json, or cannot be read. On a shared server that
would let any user probe the server's files through the model field. So every model that
is not one of the engine's local models gets one message whatever the reason, naming only
what the user typed; the engine's own reason goes to the server log. When the hub cannot be
reached from this machine (offline mode, or no answer a moment ago) the message says so for
every name alike: that depends on the network, never on the name or its shape, so it reveals
no file either."""
import logging

log = logging.getLogger("webapp.lab")


def public_model_error(name, reason):
    """The message to show for model `name` that failed to load with the engine's `reason`."""
    from workers.engine.local_models import get_local_model

    name = str(name or "").strip()
    if get_local_model(name) is not None:
        return str(reason)  # a shipped model: its reason names no user-chosen path
    log.info("model %r cannot be loaded: %s", name, reason)
    message = (f"'{name[:300]}' cannot be loaded on this server: choose a model from the list of local models, a Hugging Face id "
               "(e.g. Qwen/Qwen3-4B-Base) that the server has cached or can download, or the path of a model "
               "directory (config.json, weights and tokenizer files) or .gguf file that the server can read.")
    if _hub_unreachable():
        message += (" Note: the Hugging Face hub cannot be reached from this machine, so a hub id works only if "
                    "the server already has it in its cache; download it elsewhere and give its local path.")
    return message


def _hub_unreachable():
    from workers.engine.model_info import hub_unreachable  # torch-free

    return hub_unreachable()
