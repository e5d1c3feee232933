"""Proving that an event did not arrive: post a message after it and read up to that message.

A thread's events reach each socket in the order they were sent. So once a message posted
after an action has arrived, everything the action sent has arrived before it, and what is
missing is really missing. "Nothing within 0.3 s" proves nothing on a slow machine, where the
unwanted event may merely be late.
"""

import asyncio
from collections.abc import Awaitable, Callable

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.db import transaction

from chat.models import Message, Thread
from chat.services import message_create

MARKER_BODY = "marker: every earlier event has arrived"
MARKER_TIMEOUT_S = 10


def marker_post(*, thread: Thread, author: User) -> Message:
    """A message, committed, so that it is broadcast after everything sent so far."""
    with transaction.atomic():
        return message_create(thread=thread, author=author, body=MARKER_BODY)


async def received_before_marker(
    receive: Callable[[], Awaitable[str]], *, thread: Thread, author: User
) -> list[str]:
    """Post a marker message to ``thread``; return what ``receive()`` gave before it, in order."""
    marker = await database_sync_to_async(marker_post)(thread=thread, author=author)
    before: list[str] = []
    async with asyncio.timeout(MARKER_TIMEOUT_S):
        while f'id="message-{marker.pk}"' not in (html := await receive()):
            before.append(html)
    return before


async def event_next(communicator: WebsocketCommunicator, timeout: float = 5) -> str:
    """The next frame on a thread socket that is not the list of who has the thread open:
    that list is announced a moment after each join, so it may come before or after the
    event a test waits for."""
    while 'id="thread-presence"' in (html := await communicator.receive_from(timeout=timeout)):
        pass
    return html
