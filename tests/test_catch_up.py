"""Catch me up: a summary of what a person missed in a thread, for them alone, as a model job.

Run on the deterministic backend (``LLM_BACKEND=fake``), told what to say where the words
matter (``LLM_FAKE_ANSWER_TEXT``: citations), so what is proved is which messages the model
is given, which of its citations are kept, who sees it and how it ends; nothing is patched.
"""

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.exceptions import ValidationError
from django.db import connections
from django.test import Client
from django.utils import timezone

from assistant.catch_up_job import catch_up_generate
from assistant.catch_ups import (
    CATCH_UP_TASK,
    catch_up_progress,
    catch_up_request,
    catch_up_start,
    catch_up_stop,
)
from assistant.models import CatchUp
from assistant.rendering import catch_up_summary_html
from chat.models import Message
from chat.services import thread_read_mark
from config.asgi import application
from harness.ws_client import session_cookie
from jobs.models import ModelJob
from jobs.services import jobs_sweep
from llm.model import models_unload
from realtime.consumers import CLOSE_NOT_FOUND

from .event_order import received_before_marker
from .factories import AssistantFactory, MessageFactory, assistant_reply

pytestmark = pytest.mark.django_db(transaction=True)

WAIT_S = 30
SAID = "- Ship on Friday [1]\n- Fixes first [2][7]"
HOST, ORIGIN = (b"host", b"localhost"), (b"origin", b"http://localhost")


@pytest.fixture(autouse=True)
def fake_model(settings) -> Iterator[None]:
    settings.LLM_BACKEND = "fake"
    settings.LLM_FAKE_STEP_S = 0.002
    settings.LLM_FAKE_ANSWER_TEXT = SAID
    yield
    models_unload(wait=True)


@pytest.fixture
def missed(team, sent_tasks) -> tuple[int, list[Message]]:
    """alice read the thread up to her own message; then bob wrote twice. (``sent_tasks``:
    the jobs' tasks stay here, run by the test, away from a live test's worker.)"""
    read = MessageFactory.create(thread=team.thread, author=team.owner, body="Going out")
    later = [
        MessageFactory.create(thread=team.thread, author=team.member, body=body)
        for body in ("Shall we ship on Friday?", "Or wait for the fixes?")
    ]
    return read.pk, later


def written(catch_up: CatchUp) -> CatchUp:
    catch_up_generate(catch_up_id=catch_up.pk)
    return CatchUp.objects.select_related("job").get(pk=catch_up.pk)


def test_the_summary_cites_the_missed_messages_it_was_given_and_strikes_any_other(
    team, missed, sent_tasks
):
    after, later = missed
    catch_up = catch_up_request(thread=team.thread, by=team.owner, after=after)
    assert sent_tasks == [(CATCH_UP_TASK, [catch_up.pk])]

    catch_up = written(catch_up)

    assert catch_up.job.status == ModelJob.Status.DONE
    assert catch_up.job.kind == "catch-up"
    assert catch_up.body == SAID
    assert [(g["number"], g["message_id"]) for g in catch_up.given] == [
        (1, later[0].pk),
        (2, later[1].pk),
    ]
    html = catch_up_summary_html(catch_up)
    thread_url = f"/t/{team.thread.pk}/"
    assert f'<a class="cite" href="{thread_url}#message-{later[0].pk}">[1]</a>' in html
    assert f'<a class="cite" href="{thread_url}#message-{later[1].pk}">[2]</a>' in html
    assert re.search(r'<span class="cite unbacked" title="[^"]*">\[7\]</span>', html)
    assert html.count("<a ") == 2


def test_it_is_written_by_the_threads_answerer_under_the_threads_settings(team, missed):
    scribe = AssistantFactory.create(workspace=team.workspace, handle="scribe")
    team.thread.answerer = scribe
    team.thread.save()

    catch_up = catch_up_request(thread=team.thread, by=team.owner, after=missed[0])

    assert catch_up.assistant_name == scribe.display_name
    assert catch_up.job.model_id == scribe.model_id  # its model's queue


def test_the_threads_answer_length_holds(team, missed, settings):
    settings.LLM_FAKE_ANSWER_TEXT = ""  # the fake's numbered words, one token each
    team.thread.max_tokens_override = 5
    team.thread.save()

    catch_up = written(catch_up_request(thread=team.thread, by=team.owner, after=missed[0]))

    assert catch_up.body == " w1 w2 w3 w4 w5"
    assert catch_up.job.completion_tokens == 5


def test_it_waits_its_turn_behind_the_models_other_jobs_and_the_panel_says_where(team, missed):
    assistant_reply(thread=team.thread, asker=team.member)  # queued first, same model
    catch_up = catch_up_request(thread=team.thread, by=team.owner, after=missed[0])
    alice = Client()
    alice.force_login(team.owner)

    panel = alice.get(f"/t/{team.thread.pk}/catch-up/", {"after": missed[0]}).content.decode()

    assert "queued · 1 ahead" in panel
    assert f'hx-post="/catch-ups/{catch_up.pk}/stop/"' in panel


def test_there_is_nothing_to_catch_up_on_after_only_ones_own_messages(team):
    read = MessageFactory.create(thread=team.thread, author=team.member, body="Hello")
    MessageFactory.create(thread=team.thread, author=team.owner, body="My own")

    with pytest.raises(ValidationError, match="nothing to catch up on"):
        catch_up_request(thread=team.thread, by=team.owner, after=read.pk)
    assert not CatchUp.objects.exists()


def test_the_offer_counts_only_what_others_wrote_since_the_person_last_read(team, missed):
    after, _ = missed  # since alice read: bob wrote twice
    for body in ("Back now", "Reading up"):
        MessageFactory.create(thread=team.thread, author=team.owner, body=body)
    alice = Client()
    alice.force_login(team.owner)

    offered = alice.get(f"/t/{team.thread.pk}/catch-up/", {"after": after}).content.decode()

    assert "2 messages since you last read" in offered


def test_a_person_who_left_before_it_ran_is_refused(team, missed):
    catch_up = catch_up_request(thread=team.thread, by=team.member, after=0)
    team.workspace.memberships.filter(user=team.member).delete()

    catch_up = written(catch_up)

    assert catch_up.job.status == ModelJob.Status.FAILED
    assert "no longer a member" in catch_up.job.error
    assert catch_up.body == ""


def test_a_stop_while_queued_ends_it_at_once(team, missed):
    catch_up = catch_up_request(thread=team.thread, by=team.owner, after=missed[0])

    assert catch_up_stop(catch_up=catch_up, by=team.owner)

    catch_up = written(catch_up)  # a task delivered after the stop does nothing
    assert catch_up.job.status == ModelJob.Status.STOPPED
    assert catch_up.body == ""


def test_a_stop_ends_it_while_written_and_keeps_its_text(team, missed, settings):
    settings.LLM_FAKE_ANSWER_TEXT = ""
    settings.LLM_FAKE_ANSWER_TOKENS = 100_000
    team.thread.max_tokens_override = 8000
    team.thread.save()
    catch_up = catch_up_request(thread=team.thread, by=team.owner, after=missed[0])
    writing = threading.Thread(target=_on_own_connection, args=(catch_up.pk,))
    writing.start()
    deadline = time.monotonic() + WAIT_S
    while not ModelJob.objects.filter(pk=catch_up.job_id, last_seq__gt=0).exists():
        assert time.monotonic() < deadline, "nothing was saved"
        time.sleep(0.02)

    assert catch_up_stop(catch_up=catch_up, by=team.owner)
    writing.join(timeout=WAIT_S)

    catch_up = CatchUp.objects.select_related("job").get(pk=catch_up.pk)
    assert catch_up.job.status == ModelJob.Status.STOPPED
    assert catch_up.job.stop_reason == "stopped by alice"
    assert catch_up.body.startswith(" w1 w2")
    assert (catch_up.job.completion_tokens or 0) < 100_000


def test_the_sweep_interrupts_a_silent_one_and_keeps_its_text_as_saved(team, missed):
    catch_up = catch_up_request(thread=team.thread, by=team.owner, after=missed[0])
    assert catch_up_start(catch_up=catch_up, given=[])
    catch_up_progress(catch_up=catch_up, text="- Ship on", seq=3)
    ModelJob.objects.filter(pk=catch_up.job_id).update(
        heartbeat_at=timezone.now() - timedelta(minutes=10)
    )

    interrupted, _ = jobs_sweep(silent_for=timedelta(minutes=1), waiting_for=timedelta(hours=1))

    assert interrupted == [catch_up.job_id]
    catch_up = CatchUp.objects.select_related("job").get(pk=catch_up.pk)
    assert catch_up.job.status == ModelJob.Status.INTERRUPTED
    assert catch_up.body == "- Ship on"


def _on_own_connection(catch_up_id: int) -> None:
    try:
        catch_up_generate(catch_up_id=catch_up_id)
    finally:
        connections.close_all()


def test_the_page_offers_it_shows_it_again_after_a_reload_and_only_to_its_person(team, missed):
    after = missed[0]
    alice, bob, mallory = Client(), Client(), Client()
    alice.force_login(team.owner)
    bob.force_login(team.member)
    mallory.force_login(team.outsider)
    panel = f"/t/{team.thread.pk}/catch-up/"

    offered = alice.get(panel, {"after": after}).content.decode()
    assert "Catch me up" in offered
    assert "2 messages since you last read" in offered
    assert mallory.get(panel, {"after": after}).status_code == 404
    assert mallory.post(panel, {"after": after}).status_code == 404

    asked = alice.post(panel, {"after": after})
    assert asked.status_code == 200
    catch_up = CatchUp.objects.get()
    assert f'ws-connect="/ws/catch-ups/{catch_up.pk}/"' in asked.content.decode()
    written(catch_up)

    reloaded = alice.get(panel, {"after": missed[1][-1].pk}).content.decode()
    assert "Ship on Friday" in reloaded
    assert "ws-connect" not in reloaded  # ended: no socket to keep open
    assert "Ship on Friday" not in bob.get(panel, {"after": 0}).content.decode()
    assert bob.post(f"/catch-ups/{catch_up.pk}/stop/").status_code == 404
    assert bob.post(f"/catch-ups/{catch_up.pk}/dismiss/").status_code == 404
    assert alice.post(f"/catch-ups/{catch_up.pk}/stop/").status_code == 409  # ended

    thread_read_mark(thread=team.thread, reader=team.owner, message_id=missed[1][0].pk)
    dismissed = alice.post(f"/catch-ups/{catch_up.pk}/dismiss/").content.decode()
    assert "1 message since you last read" in dismissed  # by now: the newest one only
    assert not CatchUp.objects.exists()


@pytest.fixture
def cookies(team) -> dict[str, tuple[bytes, bytes]]:
    return {
        user.get_username(): (b"cookie", session_cookie(user).encode())
        for user in (team.owner, team.member)
    }


def _socket(path: str, cookie: tuple[bytes, bytes]) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=[HOST, ORIGIN, cookie])


async def test_it_streams_to_its_person_and_no_other_members_socket_sees_a_word(
    team, missed, cookies, settings
):
    settings.LLM_FAKE_STEP_S = 0.05  # a token every 50 ms: frames, not one piece
    catch_up = await database_sync_to_async(catch_up_request)(
        thread=team.thread, by=team.owner, after=missed[0]
    )
    mine = _socket(f"/ws/catch-ups/{catch_up.pk}/", cookies["alice"])
    theirs = _socket(f"/ws/threads/{team.thread.pk}/", cookies["bob"])
    snooping = _socket(f"/ws/catch-ups/{catch_up.pk}/", cookies["bob"])
    try:
        assert (await mine.connect())[0]
        assert "queued" in await mine.receive_from(timeout=5)
        assert (await theirs.connect())[0]
        await theirs.receive_from(timeout=5)  # the transcript
        assert (await snooping.connect())[0]
        assert (await snooping.receive_output(timeout=5))["code"] == CLOSE_NOT_FOUND

        # On a thread of its own, as in a worker (not the one the sockets read the database on)
        writing = asyncio.create_task(asyncio.to_thread(_on_own_connection, catch_up.pk))
        received = [await mine.receive_from(timeout=WAIT_S)]
        while "Dismiss" not in received[-1]:
            received.append(await mine.receive_from(timeout=WAIT_S))
        await writing

        assert "writing…" in received[0]
        body = f'<div id="catch-up-{catch_up.pk}-body"'
        frames = [html for html in received if html.startswith(body)]
        assert len(frames) > 1, "the summary streamed in frames"
        assert "Ship on Friday" in received[-1]
        seen_by_bob = await received_before_marker(
            lambda: theirs.receive_from(timeout=5), thread=team.thread, author=team.member
        )
        assert not [html for html in seen_by_bob if "catch-up" in html or "Friday" in html]
    finally:
        for communicator in (mine, theirs, snooping):
            await communicator.disconnect()
