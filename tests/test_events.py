"""The thread's event contract: structured events, rendered once per web process at the edge."""

import json

import pytest
from asgiref.sync import sync_to_async

from chat.events import (
    Frame,
    MessageAdded,
    MessageChanged,
    ThreadActive,
    ThreadEvent,
    ThreadReadChanged,
    ThreadSettingsChanged,
)
from chat.message_read import MessageData, MessageRead
from chat.models import Message
from chat.rendering import ThreadRenderer, message_html
from chat.selectors import message_read
from chat.streaming_state import live_text_set
from harness.ws_client import FRAME_PATTERN
from realtime.contract import event_parse, event_types

from .factories import MessageFactory, assistant_reply

pytestmark = pytest.mark.services

MESSAGE: MessageData = {
    "id": 2,
    "thread_id": 1,
    "role": "assistant",
    "author_id": None,
    "author": "assistant",
    "assistant": None,
    "body": "Nova <b>&</b> \u00e9\U0001f680",
    "status": "done",
    "stop_reason": "stop",
    "error": "",
    "in_reply_to_id": 1,
    "revision": 4,
    "last_seq": 3,
    "queue_ahead": None,
    "model": "SmolLM2",
    "statistics": {
        "model": "SmolLM2",
        "prompt_tokens": 40,
        "completion_tokens": 12,
        "time_to_first_token_ms": 81.5,
        "tokens_per_second": 70.2,
    },
    "sources": [],
    "created_at": "2026-12-02T15:00:00+00:00",
    "finished_at": "2026-12-02T15:00:02+00:00",
    "edited_at": None,
    "deleted_at": None,
    "mentions": [],
}
EXAMPLES = [
    MessageAdded(thread_id=1, message_id=2, message={**MESSAGE, "status": "queued"}),
    MessageChanged(thread_id=1, message_id=2, message=MESSAGE),
    Frame(thread_id=1, message_id=2, seq=3, delta="Nova <b>&</b> \u00e9\U0001f680"),
    ThreadSettingsChanged(
        thread_id=1,
        settings={
            "answers_unaddressed": True,
            "answerer": "scribe",
            "system_prompt_override": "Be <b>brief</b>.",
            "temperature_override": 0.0,
            "max_tokens_override": 64,
            "sources_use": "some",
            "chosen_sources": ["Spec <v2>.pdf"],
            "changed_by": "bob",
        },
    ),
    ThreadActive(
        thread_id=1,
        workspace_id=3,
        title="Launch <plan>",
        last_activity_at="2026-12-02T15:00:00+00:00",
        message_id=2,
        author_id=5,
    ),
    ThreadReadChanged(thread_id=1, workspace_id=3, user_id=5, last_read_message_id=2),
]


def test_every_thread_event_type_has_an_example_here():
    thread_types = {cls for cls in event_types().values() if issubclass(cls, ThreadEvent)}
    assert {type(event) for event in EXAMPLES} == thread_types


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda event: event.type)
def test_every_event_round_trips_through_json_as_a_non_browser_client_reads_it(event):
    wire = json.loads(json.dumps(event.to_wire()))

    assert wire["type"] == event.type
    assert event_parse({**wire, "topic": "thread.1"}) == event


def _frame(seq: int, delta: str, message_id: int = 7) -> dict:
    return Frame(thread_id=1, message_id=message_id, seq=seq, delta=delta).to_wire()


def _started(message_id: int = 7) -> dict:
    """The answer's move to streaming, which its worker publishes before its first frame."""
    streaming: MessageData = {
        **MESSAGE,
        "id": message_id,
        "status": "streaming",
        "body": "",
        "last_seq": 0,
        "statistics": None,
        "finished_at": None,
    }
    return MessageChanged(thread_id=1, message_id=message_id, message=streaming).to_wire()


def _shown(prepared: dict | None) -> tuple[int, str]:
    assert prepared is not None
    match = FRAME_PATTERN.search(prepared["html"])
    assert match is not None
    body = prepared["html"].split(">", 1)[1]
    return int(match["seq"]), body


async def test_the_edge_renders_each_frame_with_the_whole_text_so_far():
    renderer = ThreadRenderer()
    await renderer.prepare(_started())

    await renderer.prepare(_frame(1, "Nova"))
    seq, body = _shown(await renderer.prepare(_frame(2, " and *Orbit*")))

    assert seq == 2
    assert "Nova and <em>Orbit</em>" in body


async def test_a_frame_seen_already_is_not_shown_again():
    renderer = ThreadRenderer()
    await renderer.prepare(_started())
    await renderer.prepare(_frame(1, "Nova"))
    await renderer.prepare(_frame(2, " Orbit"))

    assert await renderer.prepare(_frame(2, " Orbit")) is None
    assert await renderer.prepare(_frame(1, "Nova")) is None


@pytest.mark.django_db(transaction=True)
async def test_a_process_that_missed_frames_reads_the_whole_text_so_far(team):
    renderer = ThreadRenderer()
    reply = await sync_to_async(assistant_reply)(
        thread=team.thread, asker=team.member, status=Message.Status.STREAMING
    )
    await sync_to_async(live_text_set)(reply_id=reply.pk, seq=5, text="one two three four five")

    seq, body = _shown(await renderer.prepare(_frame(5, " five", message_id=reply.pk)))

    assert seq == 5
    assert "one two three four five" in body
    seq, body = _shown(await renderer.prepare(_frame(6, " six", message_id=reply.pk)))
    assert "one two three four five six" in body


@pytest.mark.django_db(transaction=True)
async def test_a_first_frame_read_before_it_was_kept_is_shown_with_its_own_number(team):
    """The process hears frame 1 of an answer whose streaming event it missed, and reads the
    answer before the worker has kept that frame anywhere: the frame adds to what it read."""
    renderer = ThreadRenderer()
    reply = await sync_to_async(assistant_reply)(
        thread=team.thread, asker=team.member, status=Message.Status.STREAMING
    )

    seq, body = _shown(await renderer.prepare(_frame(1, "Nova", message_id=reply.pk)))
    assert (seq, "Nova" in body) == (1, True)
    seq, body = _shown(await renderer.prepare(_frame(2, " Orbit", message_id=reply.pk)))
    assert (seq, "Nova Orbit" in body) == (2, True)


async def test_hostile_text_in_frames_is_rendered_inert():
    renderer = ThreadRenderer()
    hostile = '<script>steal()</script><div id="transcript" hx-get="/x" onclick="y()">'
    await renderer.prepare(_started())

    prepared = await renderer.prepare(_frame(1, hostile))

    assert prepared is not None
    assert "<script" not in prepared["html"]
    assert '<div id="transcript"' not in prepared["html"]


async def test_a_status_event_is_rendered_from_its_data_with_the_newest_streamed_text():
    renderer = ThreadRenderer()
    await renderer.prepare(_started(message_id=2))
    await renderer.prepare(_frame(1, "Nova", message_id=2))
    await renderer.prepare(_frame(2, " and Orbit", message_id=2))
    streaming = MESSAGE.copy()
    streaming["status"], streaming["body"], streaming["last_seq"] = "streaming", "Nova", 1
    streaming["statistics"], streaming["finished_at"] = None, None
    changed = MessageChanged(thread_id=1, message_id=2, message=streaming).to_wire()

    prepared = await renderer.prepare(changed)  # no database: this test has none

    assert prepared is not None
    assert '<article id="message-2"' in prepared["html"]
    assert "Nova and Orbit" in prepared["html"], "not the older saved text"
    assert 'data-seq="2"' in prepared["html"]
    assert "SmolLM2" in prepared["html"]


async def test_an_ended_answer_shows_its_figures_and_its_saved_text():
    renderer = ThreadRenderer()
    changed = MessageChanged(thread_id=1, message_id=2, message=MESSAGE).to_wire()

    prepared = await renderer.prepare(changed)

    assert prepared is not None
    assert "40 prompt + 12 completion tokens" in prepared["html"]
    assert "<b>" not in prepared["html"], "the text is escaped"


@pytest.mark.django_db
def test_an_event_describes_the_message_as_the_page_shows_it(team):
    question = MessageFactory.create(thread=team.thread, author=team.member, body="*Ship* it?")
    shown = message_read(question)
    added = MessageAdded(thread_id=team.thread.pk, message_id=question.pk, message=shown.to_data())
    wire = json.loads(json.dumps(added.to_wire()))

    from_event = message_html(MessageRead.from_data(wire["message"]))
    from_database = message_html(message_read(Message.objects.get(pk=question.pk)))

    assert from_event == from_database
