"""A daphne process forwards each thread event once to each of its members' sockets, in order."""

import asyncio

from channels.layers import get_channel_layer

from chat import events
from chat.fanout import ThreadFanout


class Socket:
    def __init__(self, *, broken: bool = False) -> None:
        self.received: list[str] = []
        self.broken = broken

    async def forward(self, html: str) -> None:
        if self.broken:
            raise ConnectionResetError("the client is gone")
        self.received.append(html)


async def _send(thread_id: int, html: str) -> None:
    event = {"type": events.FRAME, "thread_id": thread_id, "html": html}
    await get_channel_layer().group_send(events.thread_group_name(thread_id), event)


async def _until(condition, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_every_local_member_gets_each_event_of_its_thread_in_order_despite_a_broken_one():
    fanout = ThreadFanout()
    alice, bob, broken, elsewhere = Socket(), Socket(), Socket(broken=True), Socket()
    for socket in (alice, broken, bob):
        await fanout.join(1, socket)
    await fanout.join(2, elsewhere)

    for n in range(3):
        await _send(1, f"frame {n}")
    await _until(lambda: len(bob.received) == 3)

    assert alice.received == bob.received == ["frame 0", "frame 1", "frame 2"]
    assert elsewhere.received == []


async def test_a_member_who_left_gets_nothing_and_the_thread_can_be_joined_again():
    fanout = ThreadFanout()
    alice, bob = Socket(), Socket()
    await fanout.join(7, alice)
    await fanout.leave(7, alice)
    await fanout.join(7, bob)

    await _send(7, "after")
    await _until(lambda: bob.received == ["after"])

    assert alice.received == []
