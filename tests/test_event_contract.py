"""Every event type of the contract, published through its real publish site, matches its schema.

As Zulip's events tests do: each registered event type has a site here, which follows the topic
the event goes to (as a stream of this process's fan-out, so it is handed events as published)
and makes the change that publishes it in production, through the service, the socket or the
worker's step that does so. What arrives must read back as its type's model, field for field.
A type registered without a site here fails, and so does a site for a type that is gone.
"""

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from pycrdt import Doc, Text

from api.completion_generation import completion_generate
from api.completion_jobs import CompletionRequest, completion_job_create
from assistant.catch_up_job import catch_up_generate
from assistant.catch_ups import catch_up_request
from assistant.models import CatchUp
from chat.replies import reply_frame_send
from chat.services import message_create, message_edit, thread_read_mark, thread_settings_update
from config.asgi import application
from documents import protocol
from documents.crdt import TEXT_NAME
from documents.events import SERVER
from documents.models import Document
from documents.services import (
    document_create,
    document_delete,
    document_rename,
    document_update_append,
)
from documents.writes import write_request
from harness.ws_client import session_cookie
from jobs.models import ModelJob
from jobs.services import job_start, jobs_sweep
from knowledge.models import Source
from knowledge.services import source_add_file, source_remove
from llm.model import models_unload
from notifications.services import notifications_for_mention, notifications_mark_all_read
from realtime.contract import event_parse, event_types
from realtime.events import Person
from realtime.presence import presence_board, typing_announce
from realtime.topics import (
    catch_up_topic,
    completion_topic,
    document_topic,
    inbox_topic,
    sources_topic,
    thread_topic,
    user_topic,
    workspace_topic,
)
from workspace.models import Membership
from workspace.services import membership_role_set

from .conftest import Team
from .topic_follower import TopicFollower

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class World:
    team: Team
    document: Document
    follow: Callable[[str], Awaitable[None]]


Site = Callable[[World], Awaitable[object]]
SITES: dict[str, Site] = {}


def site(event_type: str) -> Callable[[Site], Site]:
    def register(make: Site) -> Site:
        SITES[event_type] = make
        return make

    return register


def db[**P, R](function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    return database_sync_to_async(function)


def _person(user: User) -> Person:
    return Person(id=user.pk, name=user.get_username())


# --- Threads (chat.events) ---------------------------------------------------------------


@site("chat.message")
async def _message_posted(w: World) -> None:
    await w.follow(thread_topic(w.team.thread.pk))
    await db(message_create)(thread=w.team.thread, author=w.team.member, body="Hello")


@site("chat.status")
async def _message_edited(w: World) -> None:
    message = await db(message_create)(thread=w.team.thread, author=w.team.member, body="Hi")
    await w.follow(thread_topic(w.team.thread.pk))
    await db(message_edit)(message=message, by=w.team.member, body="Hello")


@site("chat.frame")
async def _frame_sent(w: World) -> None:
    message = await db(message_create)(thread=w.team.thread, author=w.team.member, body="Hi")
    await w.follow(thread_topic(w.team.thread.pk))
    message.last_seq = 1
    await db(reply_frame_send)(frame=message, delta="Hi")


@site("chat.settings")
async def _settings_changed(w: World) -> None:
    await w.follow(thread_topic(w.team.thread.pk))
    await db(thread_settings_update)(
        thread=w.team.thread,
        by=w.team.member,
        answers_unaddressed=True,
        answerer=None,
        system_prompt_override="Be brief.",
        temperature_override=0.2,
        max_tokens_override=64,
    )


@site("chat.thread")
async def _thread_active(w: World) -> None:
    await w.follow(workspace_topic(w.team.workspace.pk))
    await db(message_create)(thread=w.team.thread, author=w.team.member, body="Hello")


@site("chat.read")
async def _thread_read(w: World) -> None:
    message = await db(message_create)(thread=w.team.thread, author=w.team.owner, body="Hi")
    await w.follow(user_topic(w.team.member.pk))
    await db(thread_read_mark)(thread=w.team.thread, reader=w.team.member, message_id=message.pk)


# --- Accounts and presence (realtime.events) ---------------------------------------------


@site("account.changed")
async def _role_changed(w: World) -> None:
    await w.follow(user_topic(w.team.member.pk))
    await db(membership_role_set)(
        workspace=w.team.workspace, user=w.team.member, role=Membership.Role.VIEWER
    )


@site("presence.changed")
async def _someone_came(w: World) -> None:
    topic = thread_topic(w.team.thread.pk)
    await w.follow(topic)
    await presence_board().enter(topic, "socket-1", _person(w.team.member))


@site("presence.typing")
async def _someone_types(w: World) -> None:
    topic = thread_topic(w.team.thread.pk)
    await w.follow(topic)
    await typing_announce(topic, _person(w.team.member))


# --- Sources (knowledge.events) ----------------------------------------------------------


def _file_add(w: World) -> Source:
    return source_add_file(
        workspace=w.team.workspace,
        added_by=w.team.member,
        name="notes.txt",
        content_type="text/plain",
        data=b"Launch on Tuesday.",
    )


@site("knowledge.source")
async def _source_added(w: World) -> None:
    await w.follow(sources_topic(w.team.workspace.pk))
    await db(_file_add)(w)


@site("knowledge.removed")
async def _source_removed(w: World) -> None:
    source = await db(_file_add)(w)
    await w.follow(sources_topic(w.team.workspace.pk))
    await db(source_remove)(source=source)


# --- Documents (documents.events) --------------------------------------------------------


def _text_update(text: str) -> bytes:
    doc: Doc[Text] = Doc()
    doc.get(TEXT_NAME, type=Text).insert(0, text)
    return doc.get_update()


async def _editor_joined(w: World) -> WebsocketCommunicator:
    """The owner's editor on the document, through the real ASGI stack."""
    headers = [
        (b"host", b"localhost"),
        (b"origin", b"http://localhost"),
        (b"cookie", (await db(session_cookie)(w.team.owner)).encode()),
    ]
    editor = WebsocketCommunicator(application, f"/ws/documents/{w.document.pk}/", headers=headers)
    connected, _ = await editor.connect()
    assert connected
    return editor


@site("document.update")
async def _server_change(w: World) -> None:
    await w.follow(document_topic(w.document.pk))
    await db(document_update_append)(
        document_id=w.document.pk, update=_text_update("Plan"), author=w.team.owner, sender=SERVER
    )


@site("document.presence_query")
async def _editor_joins(w: World) -> None:
    await w.follow(document_topic(w.document.pk))
    editor = await _editor_joined(w)
    await editor.disconnect()


@site("document.presence")
async def _editor_says_where(w: World) -> None:
    await w.follow(document_topic(w.document.pk))
    editor = await _editor_joined(w)
    here = protocol.Presence(4242, 1, {"cursor": None})
    await editor.send_to(bytes_data=protocol.awareness(protocol.awareness_write([here])))
    await editor.disconnect()  # handled after the frame, in order


@site("document.renamed")
async def _document_renamed(w: World) -> None:
    await w.follow(document_topic(w.document.pk))
    await db(document_rename)(document=w.document, title="Launch plan, v2")


@site("document.deleted")
async def _document_deleted(w: World) -> None:
    await w.follow(document_topic(w.document.pk))
    await db(document_delete)(document=w.document, deleted_by=w.team.owner)


@site("document.write")
async def _write_asked(w: World) -> None:
    await w.follow(document_topic(w.document.pk))
    await db(write_request)(document=w.document, by=w.team.member, instruction="A summary")


# --- Catch-ups (assistant.events) ----------------------------------------------------------


def _catch_up_asked(w: World) -> CatchUp:
    read = message_create(thread=w.team.thread, author=w.team.owner, body="Going out")
    message_create(thread=w.team.thread, author=w.team.member, body="Shall we ship on Friday?")
    return catch_up_request(thread=w.team.thread, by=w.team.owner, after=read.pk)


@site("catch_up.frame")
@site("catch_up.status")
async def _catch_up_written(w: World) -> None:
    catch_up = await db(_catch_up_asked)(w)
    await w.follow(catch_up_topic(catch_up.pk))
    await db(catch_up_generate)(catch_up_id=catch_up.pk)


# --- Inbox (notifications.events) --------------------------------------------------------


def _mention(w: World) -> None:
    message = message_create(thread=w.team.thread, author=w.team.member, body="@alice look")
    notifications_for_mention(message_id=message.pk, person_ids=[w.team.owner.pk])


@site("inbox.notification")
async def _mentioned(w: World) -> None:
    await w.follow(inbox_topic(w.team.owner.pk))
    await db(_mention)(w)


@site("inbox.unread")
async def _all_read(w: World) -> None:
    await db(_mention)(w)
    await w.follow(inbox_topic(w.team.owner.pk))
    await db(notifications_mark_all_read)(person=w.team.owner)


# --- Completions (api.completion_jobs), run by the worker on the fake model -----------------


def _completion_asked(w: World) -> ModelJob:
    request = CompletionRequest(
        model_id=None,
        model_name="default",
        messages=[{"role": "user", "content": "Hello"}],
        max_tokens=4,
        temperature=0.0,
        top_p=1.0,
    )
    return completion_job_create(request, requested_by=w.team.member)


async def _completion_run(w: World) -> None:
    job = await db(_completion_asked)(w)
    await w.follow(completion_topic(str(job.pk)))
    await db(completion_generate)(job_id=job.pk)


for _type in ("completion.started", "completion.chunk", "completion.done"):
    site(_type)(_completion_run)


@site("completion.error")
async def _completion_worker_lost(w: World) -> None:
    job = await db(_completion_asked)(w)
    await w.follow(completion_topic(str(job.pk)))
    await db(job_start)(job)
    await db(jobs_sweep)(silent_for=timedelta(0), waiting_for=timedelta(days=1))


# --- The checks -----------------------------------------------------------------------------


@pytest.fixture
def fake_model(settings) -> Iterator[None]:
    settings.LLM_BACKEND = "fake"
    settings.LLM_FAKE_STEP_S = 0.001
    settings.LLM_FAKE_ANSWER_TOKENS = 4
    yield
    models_unload(wait=True)


def test_every_registered_event_type_has_a_publish_site_here_and_no_site_is_stale():
    assert set(SITES) == set(event_types())


@pytest.mark.parametrize("event_type", sorted(SITES))
async def test_an_event_published_at_its_site_matches_its_schema(
    event_type, team, sent_tasks, fake_model
):
    document = await db(document_create)(
        workspace=team.workspace, title="Launch plan", created_by=team.owner
    )
    follower = TopicFollower()
    try:
        await SITES[event_type](World(team=team, document=document, follow=follower.follow))
        event = await follower.next_of(event_type)
    finally:
        await follower.leave()

    parsed = event_parse(event)
    assert type(parsed) is event_types()[event_type]
    assert {**parsed.to_wire(), "topic": event["topic"]} == event
    assert event["topic"] in follower.topics
