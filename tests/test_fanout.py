"""A daphne process forwards each thread event once to each of its members' sockets, in order."""

import asyncio

import pytest
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


async def test_a_member_who_joins_while_the_process_is_joining_the_group_misses_nothing():
    fanout = ThreadFanout()
    first, second = Socket(), Socket()
    joining = asyncio.create_task(fanout.join(3, first))
    await asyncio.sleep(0)  # the first join is under way

    await fanout.join(3, second)
    await _send(3, "right after")

    await _until(lambda: second.received == ["right after"])
    await joining


async def test_a_join_that_failed_leaves_no_trace_and_the_next_one_works(monkeypatch):
    fanout = ThreadFanout()
    layer = get_channel_layer()
    real_group_add = layer.group_add
    failures = [ConnectionError("Redis is down")]

    async def flaky_group_add(group: str, channel: str) -> None:
        if failures:
            raise failures.pop()
        await real_group_add(group, channel)

    monkeypatch.setattr(layer, "group_add", flaky_group_add)
    alice, bob = Socket(), Socket()
    with pytest.raises(ConnectionError):
        await fanout.join(4, alice)

    await fanout.join(4, bob)
    await _send(4, "hello")

    await _until(lambda: bob.received == ["hello"])
    assert alice.received == []
