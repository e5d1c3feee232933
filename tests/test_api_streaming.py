"""Answers as Server-Sent Events: the answer members watch, resumable, and left running when
a client goes away. The model's side is played by the same calls the worker makes."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from api.services import api_token_create
from api.streaming import KEEPALIVE_S, TopicListener
from chat.events import Frame
from chat.models import Generation, Message
from chat.replies import reply_fail
from chat.streaming_state import live_text_set
from jobs.services import job_stop_requested
from realtime.channel_layer import RECONNECTED
from realtime.publish import publish
from realtime.topics import thread_topic
from tests.factories import (
    MessageFactory,
    answer_finish,
    answer_streaming,
    assistant_reply,
    frame_send,
)

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_cache", "database_threads_closed"),
]

READ_TIMEOUT_S = 10


@pytest.fixture
def bearer(team) -> dict[str, str]:  # request headers
    _, secret = api_token_create(user=team.member, name="stream")
    return {"Authorization": f"Bearer {secret}"}


class Events:
    """An SSE response read event by event: (event, id, data)."""

    def __init__(self, response) -> None:
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/event-stream")
        self.chunks: AsyncIterator[bytes] = aiter(response.streaming_content)
        self.buffer = ""
        self.comments = 0

    async def next(self) -> tuple[str, str | None, dict]:
        while "\n\n" not in self.buffer:
            chunk = await asyncio.wait_for(anext(self.chunks), READ_TIMEOUT_S)
            self.buffer += chunk.decode()
        raw, self.buffer = self.buffer.split("\n\n", 1)
        if raw.startswith(":"):
            self.comments += 1
            return await self.next()
        fields = dict(line.split(": ", 1) for line in raw.splitlines())
        return fields["event"], fields.get("id"), json.loads(fields["data"])

    async def until_end(self) -> list[tuple[str, str | None, dict]]:
        received: list[tuple[str, str | None, dict]] = []
        while not received or received[-1][0] not in ("done", "error"):
            received.append(await self.next())
        return received

    async def close(self) -> None:
        """Go away as a client does: the server's wait for the next chunk is cancelled
        (Django's ASGI handler cancels the response when the client disconnects)."""

        async def read_on() -> None:
            async for _ in self.chunks:
                pass

        reader = asyncio.ensure_future(read_on())
        # One turn of the loop, no time: the reader runs until the stream waits for its
        # next event (nothing stands between them that would hand the turn on).
        await asyncio.sleep(0)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


@sync_to_async
def streaming_started(reply_id: int) -> Message:
    return answer_streaming(reply_id)


@sync_to_async
def frames_sent(reply: Message, pieces: list[str], *, first_seq: int = 1) -> str:
    text = reply.body
    for seq, piece in enumerate(pieces, start=first_seq):
        text += piece
        frame_send(reply, text=text, seq=seq, delta=piece)
    return text


@sync_to_async
def finished(reply: Message, text: str, seq: int) -> None:
    answer_finish(reply, text=text, seq=seq)


async def delivered(witness: TopicListener, seq: int) -> None:
    """Wait until this process's fan-out has handed frame ``seq`` to the streams of the
    witness's topic. It hands each event to all of them in turn, none of which pauses, before
    it takes the next: once the witness has the frame, every stream of the topic has it."""
    async with asyncio.timeout(READ_TIMEOUT_S):
        while (event := await witness.next(READ_TIMEOUT_S)) is None or event.get("seq") != seq:
            pass


def text_of(events: list[tuple[str, str | None, dict]]) -> str:
    return "".join(data["text"] for kind, _, data in events if kind == "chunk")


async def test_ask_posts_the_question_and_streams_its_answer_to_the_end(
    async_client, team, bearer, sent_tasks
):
    response = await async_client.post(
        f"/api/threads/{team.thread.pk}/ask",
        {"body": "@assistant name the release"},
        content_type="application/json",
        headers=bearer,
    )
    events = Events(response)
    kind, _, question = await events.next()
    assert kind == "question"
    assert question["message"]["body"] == "@assistant name the release"
    [reply_data] = question["replies"]
    assert sent_tasks == [("llm.generate_reply", [reply_data["id"]])]

    reply = await streaming_started(reply_data["id"])
    text = await frames_sent(reply, ["Call", " it", " Aurora."])
    await finished(reply, text, 3)
    received = await events.until_end()

    assert text_of(received) == "Call it Aurora."
    kind, _, done = received[-1]
    assert kind == "done"
    assert done["message"]["status"] == "done"
    assert done["message"]["stop_reason"] == "stop"
    assert done["message"]["body"] == "Call it Aurora."
    ids = [event_id or "" for kind, event_id, _ in received if kind == "chunk"]
    offsets = [int(event_id.split(":")[1]) for event_id in ids]
    assert offsets == sorted(offsets)
    assert offsets[-1] == len("Call it Aurora.")


async def test_a_client_that_reconnects_with_last_event_id_gets_no_gap_and_no_duplicate(
    async_client, team, bearer
):
    reply = await sync_to_async(assistant_reply)(
        thread=team.thread, asker=team.member, status=Message.Status.STREAMING
    )
    text = await frames_sent(reply, ["Hello", " wor"])
    path = f"/api/messages/{reply.pk}/stream"
    first = Events(await async_client.get(path, headers=bearer))
    kind, _, data = await first.next()
    assert (kind, data["text"]) == ("chunk", "Hello wor")
    await first.close()

    # The client had only "Hello" (its last event's id says so): the rest comes, once.
    resumed = Events(
        await async_client.get(path, headers={**bearer, "Last-Event-ID": f"1:{len('Hello')}"})
    )
    kind, _, data = await resumed.next()
    assert (kind, data["text"]) == ("chunk", " wor")
    await sync_to_async(frame_send)(reply, text=text, seq=2, delta=" wor")  # a late repeat
    text = await frames_sent(reply, ["ld"], first_seq=3)
    await finished(reply, text, 3)
    rest = await resumed.until_end()
    assert "Hello" + " wor" + text_of(rest) == "Hello world"
    assert rest[-1][0] == "done"


async def test_a_missed_frame_is_made_good_from_the_cache(async_client, team, bearer):
    reply = await sync_to_async(assistant_reply)(
        thread=team.thread, asker=team.member, status=Message.Status.STREAMING
    )
    events = Events(await async_client.get(f"/api/messages/{reply.pk}/stream", headers=bearer))
    await frames_sent(reply, ["one"])
    assert (await events.next())[2]["text"] == "one"
    # Frame 2 is lost on its way (only the cache saw it); frame 3 arrives.
    await sync_to_async(live_text_set)(reply_id=reply.pk, seq=2, text="one two")
    reply.body = "one two"
    text = await frames_sent(reply, [" three"], first_seq=3)
    await finished(reply, text, 3)
    received = await events.until_end()
    assert "one" + text_of(received) == "one two three"


async def test_a_client_that_disconnects_does_not_stop_the_shared_answer(
    async_client, team, bearer, sent_tasks
):
    response = await async_client.post(
        f"/api/threads/{team.thread.pk}/ask",
        {"body": "@assistant write"},
        content_type="application/json",
        headers=bearer,
    )
    events = Events(response)
    _, _, question = await events.next()
    reply = await streaming_started(question["replies"][0]["id"])
    await frames_sent(reply, ["Once"])
    await events.next()
    await events.close()
    assert await sync_to_async(job_stop_requested)(reply.job_id) is None
    await sync_to_async(reply.refresh_from_db)()
    assert reply.status == Message.Status.STREAMING


async def test_a_client_that_asked_for_it_stops_the_answer_when_it_disconnects(
    async_client, team, bearer, sent_tasks
):
    response = await async_client.post(
        f"/api/threads/{team.thread.pk}/ask",
        {"body": "@assistant write", "stop_on_disconnect": True},
        content_type="application/json",
        headers=bearer,
    )
    events = Events(response)
    _, _, question = await events.next()
    reply = await streaming_started(question["replies"][0]["id"])
    await frames_sent(reply, ["Once"])
    await events.next()
    await events.close()
    assert (
        await sync_to_async(job_stop_requested)(reply.job_id)
        == f"stopped by {team.member.username}"
    )


async def test_an_ended_answer_streams_its_text_and_its_end_at_once(async_client, team, bearer):
    reply = await sync_to_async(assistant_reply)(
        thread=team.thread,
        asker=team.member,
        status=Message.Status.DONE,
        body="All done.",
        last_seq=4,
        finished_at=timezone.now(),
    )
    events = Events(await async_client.get(f"/api/messages/{reply.pk}/stream", headers=bearer))
    received = await events.until_end()
    assert [kind for kind, _, _ in received] == ["chunk", "sources", "done"]
    assert text_of(received) == "All done."


async def test_a_failed_answer_ends_its_stream_with_an_error(async_client, team, bearer):
    reply = await sync_to_async(assistant_reply)(
        thread=team.thread, asker=team.member, status=Message.Status.STREAMING
    )
    events = Events(await async_client.get(f"/api/messages/{reply.pk}/stream", headers=bearer))
    text = await frames_sent(reply, ["Part"])
    await sync_to_async(reply_fail)(reply=reply, text=text, seq=1, reason="The model crashed.")
    received = await events.until_end()
    kind, _, data = received[-1]
    assert kind == "error"
    assert data["error"]["message"] == "The model crashed."
    assert data["message"]["status"] == "failed"
    assert text_of(received) == "Part"


async def test_a_quiet_stream_sends_keepalive_comments(async_client, team, bearer, monkeypatch):
    monkeypatch.setattr("api.streaming.KEEPALIVE_S", 0.05)
    assert KEEPALIVE_S > 1  # the real interval is not the test's
    reply = await sync_to_async(assistant_reply)(thread=team.thread, asker=team.member)
    events = Events(await async_client.get(f"/api/messages/{reply.pk}/stream", headers=bearer))
    first = await asyncio.wait_for(anext(events.chunks), READ_TIMEOUT_S)
    assert first == b": keepalive\n\n"
    reply = await streaming_started(reply.pk)
    text = await frames_sent(reply, ["Hi"])
    await finished(reply, text, 1)
    assert text_of(await events.until_end()) == "Hi"


async def test_asking_without_anyone_to_answer_posts_nothing(async_client, team, bearer):
    response = await async_client.post(
        f"/api/threads/{team.thread.pk}/ask",
        {"body": "just a note"},
        content_type="application/json",
        headers=bearer,
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "no_answerer"
    assert not await sync_to_async(team.thread.messages.exists)()


async def test_streams_are_for_members_answers_only(async_client, team, bearer):
    foreign = await sync_to_async(assistant_reply)(
        thread=(await sync_to_async(MessageFactory.create)()).thread, asker=team.outsider
    )
    assert (
        await async_client.get(f"/api/messages/{foreign.pk}/stream", headers=bearer)
    ).status_code == 404
    question = await sync_to_async(MessageFactory.create)(thread=team.thread, author=team.owner)
    response = await async_client.get(f"/api/messages/{question.pk}/stream", headers=bearer)
    assert response.status_code == 400
    reply = await sync_to_async(assistant_reply)(thread=team.thread, asker=team.member)
    response = await async_client.get(
        f"/api/messages/{reply.pk}/stream", headers={**bearer, "Last-Event-ID": "nonsense"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "Last-Event-ID"
    assert (await async_client.get(f"/api/messages/{reply.pk}/stream")).status_code == 401


async def test_the_answers_sources_come_after_its_text_and_before_its_end(
    async_client, team, bearer
):
    source = {
        "number": 1,
        "source_id": 7,
        "chunk_id": 70,
        "title": "Release notes",
        "locator": "page 2",
        "url": "/sources/7/passages/70/",
        "cited": True,
    }

    @sync_to_async
    def answered() -> Message:
        reply = assistant_reply(
            thread=team.thread,
            asker=team.member,
            status=Message.Status.DONE,
            body="It ships in May [1].",
            last_seq=2,
            finished_at=timezone.now(),
        )
        Generation.objects.create(message=reply, model_name="m", sources=[source])
        return reply

    reply = await answered()
    events = Events(await async_client.get(f"/api/messages/{reply.pk}/stream", headers=bearer))
    received = await events.until_end()
    assert [kind for kind, _, _ in received] == ["chunk", "sources", "done"]
    assert received[1][2] == {"message_id": reply.pk, "sources": [source]}


async def test_a_client_that_leaves_before_reading_anything_still_stops_its_answer(
    async_client, team, bearer, sent_tasks
):
    response = await async_client.post(
        f"/api/threads/{team.thread.pk}/ask",
        {"body": "@assistant write", "stop_on_disconnect": True},
        content_type="application/json",
        headers=bearer,
    )
    reply = await sync_to_async(
        lambda: Message.objects.get(thread=team.thread, role=Message.Role.ASSISTANT)
    )()
    response.close()  # as Django does after a client left before the body was read
    for _ in range(50):
        await asyncio.sleep(0.05)
        await sync_to_async(reply.refresh_from_db)()
        if reply.status == Message.Status.STOPPED:
            break
    assert reply.status == Message.Status.STOPPED  # it was queued: stopped at once


async def test_a_very_slow_reader_catches_up_from_the_record_instead_of_piling_up_events(
    async_client, team, bearer, monkeypatch
):
    monkeypatch.setattr("api.streaming.MAX_WAITING_EVENTS", 3)
    reply = await sync_to_async(assistant_reply)(
        thread=team.thread, asker=team.member, status=Message.Status.STREAMING
    )
    events = Events(await async_client.get(f"/api/messages/{reply.pk}/stream", headers=bearer))
    witness = await TopicListener(thread_topic(team.thread.pk), max_events=100).open()
    text = await frames_sent(reply, ["a"])
    assert (await events.next())[2]["text"] == "a"
    reply.body = text
    text = await frames_sent(reply, list("bcdefghij"), first_seq=2)  # unread meanwhile
    await delivered(witness, 10)
    await witness.close()
    await finished(reply, text, 10)
    received = await events.until_end()
    assert "a" + text_of(received) == "abcdefghij"
    assert received[-1][0] == "done"


async def test_a_listener_that_falls_behind_drops_its_events_for_a_catch_up():
    listener = await TopicListener("thread.999999", max_events=3).open()
    witness = await TopicListener("thread.999999").open()
    try:
        for seq in range(1, 11):
            frame = Frame(thread_id=999999, message_id=1, seq=seq, delta="x")
            await sync_to_async(publish)("thread.999999", frame)
        await delivered(witness, 10)
        received = []
        while (event := await listener.next(0.2)) is not None:
            received.append(event)
        assert len(received) <= 3
        assert {"type": RECONNECTED} in received  # read the record again, then go on
    finally:
        await listener.close()
        await witness.close()
