"""Websocket consumer: live run events of one experiment, with catch-up on reconnect. What it
sends is one of the shapes of lab/progress_messages.py: "replay" (services/history.replay_since)
and "event" (built by services/events, forwarded as is)."""
import asyncio
import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .services import broadcast


@database_sync_to_async
def _owns(user, experiment_id):
    """May this (still active) user read the experiment? permissions.can_watch, read from the
    database each time: the connection's user object is the one of the handshake."""
    from webapp.teams.permissions import can_watch

    return can_watch(user, experiment_id)


@database_sync_to_async
def _replay(experiment_id, last_event, last_point):
    from .services.history import replay_since

    return replay_since(experiment_id, last_event, last_point)


BAD_FRAME = 4400  # the close code of a frame that is not a JSON object (binary, malformed, too deep)
MAX_ID = 2**63 - 1  # a resume id beyond bigint reads as "from the start", never a database error


def _frame(text_data):
    """The client frame as a dict, or None when it is not one: binary, not JSON, nested
    past the parser's depth (RecursionError), or JSON that is not an object."""
    if text_data is None:
        return None
    try:
        content = json.loads(text_data)
    except (ValueError, RecursionError):
        return None
    return content if isinstance(content, dict) else None


def _last_id(value):
    """A resume id as a bigint >= 0; anything else (text, float, too large) is 0."""
    try:
        value = int(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0
    return value if 0 <= value <= MAX_ID else 0


class ExperimentConsumer(AsyncJsonWebsocketConsumer):
    """Client sends {"type": "resume", "last_event": id, "last_point": id}; server replays
    newer events/points, then forwards live group messages. Access is checked on connect
    and again whenever it may have changed (broadcast.recheck_access): a member removed
    from the team, an experiment moved or deleted, a user deactivated or deleted: the
    connection is closed with code 4403."""

    async def connect(self):
        broadcast.register_loop(asyncio.get_running_loop())
        self.experiment_id = int(self.scope["url_route"]["kwargs"]["pk"])
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not await _owns(user, self.experiment_id):
            await self.close(code=4403)
            return
        self.groups_joined = [broadcast.experiment_group(self.experiment_id), broadcast.user_group(user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        """A frame that is not a JSON object closes the connection with BAD_FRAME, quietly:
        a client's mistake, not a server error (the base class raises, logging a traceback)."""
        content = _frame(text_data)
        if content is None:
            await self.close(code=BAD_FRAME)
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "resume":
            last_event, last_point = _last_id(content.get("last_event")), _last_id(content.get("last_point"))
            await self.send_json(await _replay(self.experiment_id, last_event, last_point))
        elif content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def access_check(self, message):
        """Access changed somewhere (broadcast.recheck_access): close unless still allowed."""
        if not await _owns(self.scope["user"], self.experiment_id):
            await self.close(code=4403)

    async def lab_event(self, message):
        """A group message of type progress_messages.CHANNEL_TYPE: its payload is an "event" message."""
        await self.send_json(message["payload"])
