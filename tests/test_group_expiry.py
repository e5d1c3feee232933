"""A socket open longer than the channel layer's group expiry keeps receiving its thread's events.

channels-redis's list-based layer forgets a group member ``group_expiry`` seconds (a day, by
default) after it joined, silently, unless it joins again. Here a daphne process joins each
topic's group once for all its sockets (``realtime.fanout``), so a forgotten membership would
silence every socket of the process on that topic. The configured layer is Redis Pub/Sub, whose
groups are the process's subscriptions: they last as long as the process's Redis connection
(and are renewed on a reconnect), with no expiry. These tests keep a socket open past a
shortened ``group_expiry`` on each layer, to show which one keeps delivering.
"""

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import override_settings

from config.asgi import application
from harness.ws_client import session_cookie

from .event_order import received_before_marker
from .test_consumers import HOST, ORIGIN, _join

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

EXPIRY_S = 1
LIST_BASED_LAYER = "channels_redis.core.RedisChannelLayer"


def _layers_expiring_after(seconds: int, backend: str) -> dict:
    """The configured channel layers, with ``backend`` and a ``group_expiry`` of ``seconds``."""
    config: dict[str, Any] = settings.CHANNEL_LAYERS["default"]["CONFIG"]  # type: ignore[assignment]
    return {"default": {"BACKEND": backend, "CONFIG": {**config, "group_expiry": seconds}}}


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(settings.CHANNEL_LAYERS["default"]["BACKEND"], id="configured layer"),
        pytest.param(
            LIST_BASED_LAYER,
            id="list-based layer",
            marks=pytest.mark.xfail(
                strict=True,
                raises=TimeoutError,
                reason="it drops the process from the group after group_expiry: what the "
                "configured layer must not do",
            ),
        ),
    ],
)
async def test_a_socket_open_longer_than_the_group_expiry_still_receives_its_threads_messages(
    team, backend
):
    with override_settings(CHANNEL_LAYERS=_layers_expiring_after(EXPIRY_S, backend)):
        cookie = (b"cookie", (await database_sync_to_async(session_cookie)(team.member)).encode())
        socket = WebsocketCommunicator(
            application, f"/ws/threads/{team.thread.pk}/", headers=[HOST, ORIGIN, cookie]
        )
        await _join(socket)
        # Time itself is the condition: the membership is older than the expiry.
        await asyncio.sleep(EXPIRY_S + 1.5)

        await received_before_marker(
            lambda: socket.receive_from(timeout=5), thread=team.thread, author=team.owner
        )
        await socket.disconnect()
