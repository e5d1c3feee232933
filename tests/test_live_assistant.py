"""The whole loop with real parts: daphne, Redis, a Celery worker and the real model."""

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.test import Client
from websockets import ClientConnection

from chat.models import Message
from chat.rendering import message_body_html
from chat.selectors import message_read
from chat.services import GENERATE_REPLY_TASK, message_create
from config.celery import app as celery_app
from harness.live_stack import TEST_LOG_DIR, LiveStack, worker_start
from harness.ws_client import (
    BODY_PATTERN,
    FRAME_PATTERN,
    ClientView,
    Received,
    post_as,
    send_message,
    thread_socket,
)
from jobs.services import jobs_sweep

from .event_order import received_before_marker
from .factories import LONG_ANSWER_PROMPT

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

ANSWER_TIMEOUT_S = 120
GENERATE_SUCCEEDED = re.compile(r"Task llm\.generate_reply\[[\w-]+\] succeeded")

OnFrame = Callable[[int, int], Awaitable[None]]


async def _read_until_answer_ends(
    socket: ClientConnection, received: Received, on_frame: OnFrame | None = None
) -> int:
    """Collect frames until the assistant's reply has ended; return its id.

    ``on_frame(reply_id, seq)`` is awaited after each frame of the reply.
    """
    reply_id = None
    async with asyncio.timeout(ANSWER_TIMEOUT_S):
        while True:
            html = await socket.recv(decode=True)
            assert isinstance(html, str)
            received.html.append(html)
            created = re.search(r'id="message-(\d+)" class="message assistant', html)
            if created:
                reply_id = int(created[1])
            if reply_id and re.search(
                rf'id="message-{reply_id}" .*data-status="(done|failed|stopped|interrupted)"', html
            ):
                return reply_id
            frame = FRAME_PATTERN.search(html)
            if on_frame and reply_id and frame and int(frame["id"]) == reply_id:
                await on_frame(reply_id, int(frame["seq"]))


async def _alice_asks_and_both_read_the_answer(
    team: Any,
    question: str,
    *,
    alice_on: LiveStack,
    bob_on: LiveStack | None = None,
    on_bob_frame: OnFrame | None = None,
) -> tuple[int, Received, Received]:
    """Alice (on ``alice_on``) asks; she and Bob (on ``bob_on``, else the same daphne) read
    until the answer ends. Returns the reply's id and what each of them received."""
    alice_received, bob_received = Received(), Received()
    async with (
        thread_socket(alice_on, team.thread.pk, team.owner) as alice,
        thread_socket(bob_on or alice_on, team.thread.pk, team.member) as bob,
    ):
        await send_message(alice, question)
        reply_id, _ = await asyncio.gather(
            _read_until_answer_ends(alice, alice_received),
            _read_until_answer_ends(bob, bob_received, on_frame=on_bob_frame),
        )
    return reply_id, alice_received, bob_received


def _once_at_frame(seq: int, action: Callable[[int], Awaitable[None]]) -> OnFrame:
    """An ``on_frame`` that runs ``action(reply_id)`` once, when frame ``seq`` has arrived."""
    done = False

    async def on_frame(reply_id: int, frame_seq: int) -> None:
        nonlocal done
        if frame_seq >= seq and not done:
            done = True
            await action(reply_id)

    return on_frame


def _assert_streamed_once_in_order(received: Received, reply: Message) -> None:
    """Frames 1, 2, 3, ... with no hole or repeat, adding up to the saved text."""
    frames = received.frames(reply.pk)
    assert [frame.seq for frame in frames] == list(range(1, len(frames) + 1))
    assert "".join(frame.delta for frame in frames) == reply.body


async def test_every_member_receives_the_streamed_answer_in_numbered_frames_equal_to_the_saved_message(
    live_stack, team
):
    reply_id, alice_received, bob_received = await _alice_asks_and_both_read_the_answer(
        team,
        "@assistant list five names for our next release, one per line",
        alice_on=live_stack,
    )

    reply = await database_sync_to_async(Message.objects.select_related("generation").get)(
        pk=reply_id
    )
    assert reply.status == Message.Status.DONE
    assert reply.body
    assert reply.generation.model_name == "SmolLM2-135M-Instruct.Q4_1"
    assert reply.generation.completion_tokens
    assert reply.generation.completion_tokens > 0
    assert reply.generation.prompt_tokens
    assert reply.generation.prompt_tokens > 0
    assert reply.generation.time_to_first_token_ms is not None
    assert reply.generation.tokens_per_second
    assert reply.generation.tokens_per_second > 0
    assert reply.stop_reason in {"stop", "length"}
    for received in (alice_received, bob_received):
        assert len(received.frames(reply_id)) >= 3, "several frames, not one blob"
        _assert_streamed_once_in_order(received, reply)
        assert received.saw_status(reply_id, "streaming")
    assert reply.last_seq == len(alice_received.frames(reply_id))


async def test_the_question_reaches_every_member_before_the_answer(live_stack, team):
    async with (
        thread_socket(live_stack, team.thread.pk, team.owner) as alice,
        thread_socket(live_stack, team.thread.pk, team.member) as bob,
    ):
        await send_message(alice, "@assistant say hello to bob")
        received = Received()
        await _read_until_answer_ends(bob, received)
        await _read_until_answer_ends(alice, Received())

    question = await database_sync_to_async(
        lambda: Message.objects.get(thread=team.thread, role=Message.Role.USER)
    )()
    events = [html for html in received.html if not html.startswith('<div id="transcript"')]
    first_for_bob = events[0]
    assert f'id="message-{question.pk}"' in first_for_bob
    assert "say hello to bob" in first_for_bob


async def test_a_member_stops_the_answer_from_another_web_process_and_everyone_keeps_the_partial_text(
    live_stack, team
):
    """The stop request goes through this test process's Django, not the daphne streaming it."""
    client = Client()
    await database_sync_to_async(client.force_login)(team.member)

    async def stop(reply_id: int) -> None:
        response = await database_sync_to_async(client.post)(f"/m/{reply_id}/stop/")
        assert response.status_code == 202

    reply_id, alice_received, bob_received = await _alice_asks_and_both_read_the_answer(
        team, LONG_ANSWER_PROMPT, alice_on=live_stack, on_bob_frame=_once_at_frame(2, stop)
    )

    reply = await database_sync_to_async(Message.objects.get)(pk=reply_id)
    assert reply.status == Message.Status.STOPPED
    assert reply.stop_reason == "stopped by bob"
    assert reply.body
    for received in (alice_received, bob_received):
        _assert_streamed_once_in_order(received, reply)
        assert received.saw_status(reply_id, "stopped")


async def test_a_client_whose_socket_drops_mid_answer_catches_up_with_no_holes_or_duplicates(
    live_stack, team
):
    """Bob's network drops mid-answer; the answer ends while he is away; he reconnects."""
    view = ClientView()
    async with thread_socket(live_stack, team.thread.pk, team.owner) as alice:
        async with thread_socket(live_stack, team.thread.pk, team.member) as bob:
            await send_message(alice, LONG_ANSWER_PROMPT)
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                while not any(shown.seq >= 2 for shown in view.messages.values()):
                    view.apply(await bob.recv(decode=True))
            bob.transport.abort()  # the network drops: no closing handshake
        reply_id = await _read_until_answer_ends(alice, Received())
        assert view.messages[reply_id].status == "streaming"

        async with thread_socket(live_stack, team.thread.pk, team.member) as bob_again:
            view.apply(await bob_again.recv(decode=True))

    saved = await database_sync_to_async(
        lambda: {m.pk: m for m in Message.objects.filter(thread=team.thread)}
    )()
    assert set(view.messages) == set(saved)
    reply = saved[reply_id]
    assert reply.status == Message.Status.DONE
    shown = view.messages[reply_id]
    assert shown.status == "done"
    assert shown.seq == reply.last_seq
    assert shown.body == await database_sync_to_async(_rendered_body)(reply)


def _rendered_body(message: Message) -> str:
    body = BODY_PATTERN.search(message_body_html(message_read(message)))
    assert body is not None
    return body[3]


@database_sync_to_async
def _sweep(*, silent_for: timedelta) -> list[int]:
    interrupted, _ = jobs_sweep(silent_for=silent_for, waiting_for=timedelta(hours=1))
    return interrupted


@database_sync_to_async
def _job_of(reply_id: int) -> int | None:
    return Message.objects.get(pk=reply_id).job_id


async def test_a_worker_killed_mid_answer_leaves_an_interrupted_reply_with_its_text_and_retry_works(
    live_stack, team
):
    client = Client()
    await database_sync_to_async(client.force_login)(team.member)
    # Long enough to be killed at its third frame, short enough that the retry ends soon.
    team.thread.max_tokens_override = 64
    await database_sync_to_async(team.thread.save)(update_fields=["max_tokens_override"])

    async def kill_worker_then_sweep(reply_id: int) -> None:
        await asyncio.to_thread(live_stack.kill_worker)
        # What the housekeeping worker's beat does every REPLY_SWEEP_EVERY_S, until the
        # killed worker has been silent for longer than the sweep allows:
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            while not (swept := await _sweep(silent_for=timedelta(seconds=2))):
                await asyncio.sleep(0.2)
        assert swept == [await _job_of(reply_id)]

    try:
        reply_id, alice_received, bob_received = await _alice_asks_and_both_read_the_answer(
            team,
            LONG_ANSWER_PROMPT,
            alice_on=live_stack,
            on_bob_frame=_once_at_frame(3, kill_worker_then_sweep),
        )
    finally:
        if live_stack.worker.poll() is not None:
            await asyncio.to_thread(live_stack.start_worker)

    reply = await database_sync_to_async(Message.objects.get)(pk=reply_id)
    assert reply.status == Message.Status.INTERRUPTED
    for received in (alice_received, bob_received):
        assert received.saw_status(reply_id, "interrupted")
        _assert_streamed_once_in_order(received, reply)
    assert reply.body, "the text generated before the crash is kept"

    response = await database_sync_to_async(client.post)(f"/m/{reply_id}/retry/")
    assert response.status_code == 202
    again_id = response.json()["id"]
    async with asyncio.timeout(ANSWER_TIMEOUT_S):
        while (await database_sync_to_async(Message.objects.get)(pk=again_id)).is_active:
            await asyncio.sleep(0.2)
    again = await database_sync_to_async(Message.objects.get)(pk=again_id)
    assert again.status == Message.Status.DONE
    assert again.in_reply_to_id == reply.in_reply_to_id


@pytest.mark.full_stack
async def test_a_redis_restart_mid_answer_loses_nothing(live_stack, team, redis_server):
    """Redis restarts (losing groups, cache and queue) while the answer streams."""
    view = ClientView()
    restarted = False
    async with asyncio.timeout(ANSWER_TIMEOUT_S):
        async with thread_socket(live_stack, team.thread.pk, team.owner) as alice:
            await send_message(alice, LONG_ANSWER_PROMPT)
            while not (restarted and view.messages[max(view.messages)].status == "done"):
                view.apply(await alice.recv(decode=True))
                if not restarted and any(m.seq >= 2 for m in view.messages.values()):
                    await asyncio.to_thread(redis_server.restart)
                    restarted = True
    assert restarted
    reply_id = max(view.messages)
    reply = await database_sync_to_async(Message.objects.select_related("generation").get)(
        pk=reply_id
    )
    assert reply.status == Message.Status.DONE, "the worker finished the answer through the outage"
    shown = view.messages[reply_id]
    assert shown.status == "done"
    assert shown.body == await database_sync_to_async(_rendered_body)(reply)
    assert (reply.generation.completion_tokens or 0) > 0


async def test_a_member_stays_connected_through_a_redis_outage_and_misses_nothing(
    live_stack, team, redis_server
):
    """A message posted while Redis is down has no event; the page is sent it on reconnect."""
    view = ClientView()
    async with thread_socket(live_stack, team.thread.pk, team.owner) as alice:
        view.apply(await alice.recv(decode=True))
        await asyncio.to_thread(redis_server.stop)
        try:
            missed = await database_sync_to_async(message_create)(
                thread=team.thread, author=team.member, body="posted while Redis was down"
            )
        finally:
            await asyncio.to_thread(redis_server.start)
        async with asyncio.timeout(30):
            while missed.pk not in view.messages:
                view.apply(await alice.recv(decode=True))
    assert "posted while Redis was down" in view.messages[missed.pk].body


@pytest.mark.full_stack
async def test_a_member_on_another_web_replica_sees_the_answer_and_stops_it_there(live_stack, team):
    """Alice is on one daphne, Bob on another; Bob's stop goes to his own replica."""
    with live_stack.another_web_replica() as second:

        async def stop_via_own_replica(reply_id: int) -> None:
            status = await database_sync_to_async(post_as)(
                second, team.member, f"/m/{reply_id}/stop/"
            )
            assert status == 202

        reply_id, alice_received, bob_received = await _alice_asks_and_both_read_the_answer(
            team,
            LONG_ANSWER_PROMPT,
            alice_on=live_stack,
            bob_on=second,
            on_bob_frame=_once_at_frame(2, stop_via_own_replica),
        )

    reply = await database_sync_to_async(Message.objects.get)(pk=reply_id)
    assert reply.status == Message.Status.STOPPED
    assert reply.stop_reason == "stopped by bob"
    for received in (alice_received, bob_received):
        _assert_streamed_once_in_order(received, reply)
        assert received.saw_status(reply_id, "stopped")


async def test_a_task_delivered_twice_to_two_workers_streams_once(live_stack, team):
    second_worker = await asyncio.to_thread(worker_start, live_stack.env, name="worker-2")
    finished_before = _generate_tasks_finished("worker", "worker-2")
    try:
        async with thread_socket(live_stack, team.thread.pk, team.member) as bob:
            reply = await database_sync_to_async(_question_with_reply_enqueued_twice)(team)
            received = Received()
            assert await _read_until_answer_ends(bob, received) == reply.pk
            async with asyncio.timeout(ANSWER_TIMEOUT_S):  # both deliveries have run
                while _generate_tasks_finished("worker", "worker-2") < finished_before + 2:
                    await asyncio.sleep(0.2)
            received.html += await received_before_marker(
                lambda: bob.recv(decode=True), thread=team.thread, author=team.owner
            )
    finally:
        second_worker.terminate()
        await asyncio.to_thread(second_worker.wait, 15)

    await database_sync_to_async(reply.refresh_from_db)()
    assert reply.status == Message.Status.DONE
    _assert_streamed_once_in_order(received, reply)


def _generate_tasks_finished(*workers: str) -> int:
    """How many generation tasks the named workers' logs say have finished."""
    logs = (TEST_LOG_DIR / f"{worker}.log" for worker in workers)
    return sum(len(GENERATE_SUCCEEDED.findall(log.read_text())) for log in logs if log.exists())


def _question_with_reply_enqueued_twice(team: Any) -> Message:
    with transaction.atomic():
        question = message_create(
            thread=team.thread, author=team.owner, body="@assistant name our release"
        )
    reply = Message.objects.get(in_reply_to=question)
    celery_app.send_task(GENERATE_REPLY_TASK, args=[reply.pk])  # the broker delivers it again
    return reply
