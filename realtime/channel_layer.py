"""The channel layer: Redis Pub/Sub, which tells consumers when they may have missed events.

With channels-redis's Pub/Sub layer a group message is published once and reaches each daphne
process once, which hands it to its own members' consumers. The list-based layer instead pushes
one copy per member into Redis and each process pops them one by one: at hundreds of members
per thread and tens of frames a second, that was most of daphne's time (bench/README.md).

Pub/Sub keeps nothing for a subscriber that is away: whatever is published while a process's
Redis connection is down is gone. redis-py re-subscribes when it reconnects; this layer then
gives every channel of the process a ``layer.reconnected`` message, so that its clients can be
sent what they may have missed (see ``realtime.fanout.Fanout``).
"""

from typing import Any

import redis
from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from django.conf import settings

RECONNECTED = "layer.reconnected"


class _ResyncingShard(RedisSingleShardConnection):
    """One Redis server's subscriptions; on a reconnect, tells every local channel."""

    _watched: Any = None

    async def subscribe(self, channel: str) -> None:
        await super().subscribe(channel)
        connection = self._pubsub.connection if self._pubsub is not None else None
        if connection is not None and connection is not self._watched:
            # Called after redis-py's own callback, which re-subscribes: from then on every
            # event arrives again, so what a consumer reads next is not missed either.
            connection.register_connect_callback(self._reconnected)
            self._watched = connection

    def _reconnected(self, connection: Any) -> None:
        layer = self.channel_layer
        notice = layer.channel_layer.serialize({"type": RECONNECTED})
        for queue in layer.channels.values():
            queue.put_nowait(notice)


class ResyncingPubSubChannelLayer(RedisPubSubChannelLayer):
    """channels-redis's Pub/Sub layer, with ``layer.reconnected`` after a lost connection."""

    def _get_layer(self) -> RedisPubSubLoopLayer:
        layer: RedisPubSubLoopLayer = super()._get_layer()
        if not all(isinstance(shard, _ResyncingShard) for shard in layer._shards):
            layer._shards = [_ResyncingShard(shard.host, layer) for shard in layer._shards]
        return layer


def group_channel(topic: str) -> str:
    """The Redis Pub/Sub channel of ``topic``'s group, as channels-redis names it."""
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]  # type: ignore[index]
    return f"{prefix}__group__{topic}"


def groups_followed(client: redis.Redis) -> dict[str, int]:
    """Each topic that some process follows on the server of ``client``, and how many processes
    follow it (a process subscribes once to a group's channel while any of its sockets is in
    it)."""
    channels = client.pubsub_channels(group_channel("*"))
    if not channels:
        return {}
    start = len(group_channel(""))
    return {
        (name.decode() if isinstance(name, bytes) else name)[start:]: int(count)
        for name, count in client.pubsub_numsub(*channels)
    }
