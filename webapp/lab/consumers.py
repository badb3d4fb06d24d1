"""Websocket consumer: live run events of one experiment, with catch-up on reconnect. What it
sends is one of the shapes of lab/progress_messages.py: "replay" (services/history.replay_since)
and "event" (built by services/events, forwarded as is)."""
import asyncio

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

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "resume":
            try:
                last_event, last_point = int(content.get("last_event") or 0), int(content.get("last_point") or 0)
            except (TypeError, ValueError):
                last_event = last_point = 0
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
