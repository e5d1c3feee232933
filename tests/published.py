"""What the services publish, kept by a channel layer of the tests' own instead of sent.

The ``published`` fixture (``conftest.py``) sets ``CHANNEL_LAYERS`` to ``RecordingLayer``: every
event goes through the real ``realtime.publish`` (validated, sent on commit inside a
transaction) and is kept as it would travel, with its ``topic``. A test then checks what
reached the wire, by event type, whichever module published it.
"""

import asyncio
from typing import Any

from channels.layers import BaseChannelLayer

from realtime.contract import EventModel


class RecordingLayer(BaseChannelLayer):
    """Keeps each group send, in order; nothing is ever received."""

    extensions = ["groups"]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent: list[dict[str, Any]] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def group_add(self, group: str, channel: str) -> None:
        pass

    async def group_discard(self, group: str, channel: str) -> None:
        pass

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        pass

    async def new_channel(self, prefix: str = "specific.") -> str:
        return f"{prefix}recorded"

    async def receive(self, channel: str) -> dict[str, Any]:
        await asyncio.Event().wait()  # nothing arrives
        raise AssertionError("unreachable")


class Published:
    """The events published while a test runs, as sent (with their ``topic``)."""

    def __init__(self, layer: RecordingLayer) -> None:
        self._layer = layer

    def of(self, *kinds: type[EventModel]) -> list[dict[str, Any]]:
        """The events of these types, in the order they were published."""
        types = {kind.type for kind in kinds}
        return [event for event in self._layer.sent if event["type"] in types]
