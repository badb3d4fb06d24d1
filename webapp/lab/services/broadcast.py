"""Send a message to a Channels group from any thread.

With Redis, async_to_sync is enough. The in-memory layer is bound to the server's
event loop, so from a worker thread the send is scheduled onto that loop (which
consumers register when they connect).
"""
import asyncio
import logging
import threading

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

log = logging.getLogger("webapp.lab")
_loop = None
_lock = threading.Lock()


def register_loop(loop):
    global _loop
    with _lock:
        _loop = loop


def experiment_group(experiment_id):
    return f"experiment-{experiment_id}"


def user_group(user_id):
    """Every live connection of one user (whatever experiment it watches)."""
    return f"user-{user_id}"


ACCESS_CHECK = {"type": "access.check"}


def recheck_access(*groups):
    """Once the current transaction commits, ask the live connections in these groups to
    check again that their user may still read their experiment; those who may not are
    closed (a removed member, an experiment moved to another team or deleted, a user
    deactivated or deleted). Access is
    checked on connect only otherwise, so without this an open page kept streaming."""
    from django.db import transaction

    def send_all():
        for group in groups:
            send(group, ACCESS_CHECK)

    transaction.on_commit(send_all)


def send(group, message):
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        if isinstance(layer, InMemoryChannelLayer):
            loop = _loop
            if loop is None or loop.is_closed():
                return  # nobody has ever listened in this process
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                loop.create_task(layer.group_send(group, message))
                return
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(timeout=5)
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:  # a lost live update must never break a run; history catches up
        log.warning("could not broadcast to %s", group, exc_info=True)
