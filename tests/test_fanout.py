"""A daphne process hands each event of a topic once to each of its local sockets, in order."""

import asyncio

import pytest
from channels.layers import get_channel_layer

from realtime.channel_layer import RECONNECTED
from realtime.fanout import AWAY, BACK, Fanout
from realtime.topics import thread_topic, user_topic

pytestmark = pytest.mark.services


class Socket:
    def __init__(self, *, broken: bool = False) -> None:
        self.received: list[str] = []
        self.broken = broken

    async def deliver(self, event: dict) -> None:
        if self.broken:
            raise ConnectionResetError("the client is gone")
        self.received.append(event["html"])


async def _send(thread_id: int, html: str) -> None:
    topic = thread_topic(thread_id)
    event = {"type": "chat.frame", "topic": topic, "html": html}
    await get_channel_layer().group_send(topic, event)


async def _until(condition, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_every_local_member_gets_each_event_of_its_thread_in_order_despite_a_broken_one():
    fanout = Fanout()
    alice, bob, broken, elsewhere = Socket(), Socket(), Socket(broken=True), Socket()
    for socket in (alice, broken, bob):
        await fanout.join(thread_topic(1), socket)
    await fanout.join(thread_topic(2), elsewhere)

    for n in range(3):
        await _send(1, f"frame {n}")
    await _until(lambda: len(bob.received) == 3)

    assert alice.received == bob.received == ["frame 0", "frame 1", "frame 2"]
    assert elsewhere.received == []


async def test_a_member_who_left_gets_nothing_and_the_thread_can_be_joined_again():
    fanout = Fanout()
    alice, bob = Socket(), Socket()
    await fanout.join(thread_topic(7), alice)
    await fanout.leave(thread_topic(7), alice)
    await fanout.join(thread_topic(7), bob)

    await _send(7, "after")
    await _until(lambda: bob.received == ["after"])

    assert alice.received == []


async def test_a_member_who_joins_while_the_process_is_joining_the_group_misses_nothing():
    fanout = Fanout()
    first, second = Socket(), Socket()
    joining = asyncio.create_task(fanout.join(thread_topic(3), first))
    await asyncio.sleep(0)  # the first join is under way

    await fanout.join(thread_topic(3), second)
    await _send(3, "right after")

    await _until(lambda: second.received == ["right after"])
    await joining


async def test_a_join_that_failed_leaves_no_trace_and_the_next_one_works(monkeypatch):
    fanout = Fanout()
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
        await fanout.join(thread_topic(4), alice)

    await fanout.join(thread_topic(4), bob)
    await _send(4, "hello")

    await _until(lambda: bob.received == ["hello"])
    assert alice.received == []


async def test_after_a_lost_redis_connection_each_topic_is_caught_up_once_for_all_its_sockets():
    fanout = Fanout()
    alice, bob, other = Socket(), Socket(), Socket()
    caught_up: list[str] = []

    async def transcript(topic: str) -> dict:
        caught_up.append(topic)
        return {"type": "chat.transcript", "html": f"transcript of {topic}"}

    await fanout.join(thread_topic(5), alice, catch_up=transcript)
    await fanout.join(thread_topic(5), bob, catch_up=transcript)
    await fanout.join(thread_topic(6), other)  # a topic with nothing to catch up

    layer = get_channel_layer()
    await layer.send(await fanout._name(), {"type": RECONNECTED})
    await _until(lambda: bob.received == ["transcript of thread.5"])

    assert alice.received == ["transcript of thread.5"]
    assert caught_up == ["thread.5"]
    assert other.received == []


async def test_each_event_is_prepared_once_for_all_the_local_sockets_of_its_topic():
    fanout = Fanout()
    sockets = [Socket() for _ in range(3)]
    prepared: list[str] = []

    async def render(event: dict) -> dict | None:
        prepared.append(event["html"])
        return {**event, "html": event["html"].upper()}

    for socket in sockets:
        await fanout.join(thread_topic(9), socket, prepare=render)
    await _send(9, "frame one")

    await _until(lambda: all(s.received == ["FRAME ONE"] for s in sockets))
    assert prepared == ["frame one"]


async def test_sockets_are_told_once_when_redis_goes_away_and_when_it_is_back_after_a_catch_up(
    redis_server,
):
    fanout = Fanout()
    told: list[str] = []

    class Page:
        async def deliver(self, event: dict) -> None:
            told.append(event["type"])

    async def transcript(topic: str) -> dict:
        return {"type": "chat.transcript", "html": f"transcript of {topic}"}

    page = Page()
    await fanout.join(thread_topic(11), page, catch_up=transcript)
    await fanout.join(user_topic(11), page)  # a second topic: still told once
    await asyncio.to_thread(redis_server.stop)
    try:
        await _until(lambda: told == [AWAY], timeout=10)
        assert fanout.away
    finally:
        await asyncio.to_thread(redis_server.start)

    await _until(lambda: told[-1:] == [BACK], timeout=15)
    assert told == [AWAY, "chat.transcript", BACK]
    assert not fanout.away
