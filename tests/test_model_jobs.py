"""Model jobs of every kind through the one runner and the real engine, on the deterministic
backend (``LLM_BACKEND=fake``: answers " w1 w2 ...", a step every LLM_FAKE_STEP_S), so what is
proved is the lifecycle and the scheduling, not the model's words; nothing is patched."""

import pytest

from chat.models import Message
from chat.replies import reply_stop
from chat.streaming_state import live_text_get_many
from documents.crdt import doc_from, text_of
from documents.models import DocumentWrite
from documents.writes import write_request

from .factories import assistant_reply
from .model_worker import (
    document_write_generate,
    fake_answer,
    in_background,
    in_threads,
    joined,
    reply_generate,
    stand_in,
    until,
)

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fake_model"),
]


def test_answers_asked_at_once_are_decoded_together_and_each_ends_whole(team):
    replies = [
        assistant_reply(thread=team.thread, asker=team.owner, question=f"@assistant {n}")
        for n in range(3)
    ]

    in_threads(*(lambda pk=reply.pk: reply_generate(reply_id=pk) for reply in replies))

    for reply in replies:
        reply.refresh_from_db()
        assert reply.status == Message.Status.DONE
        assert reply.body == fake_answer(40)
        assert reply.generation.completion_tokens == 40
    assert max(stand_in()[0].decodes) >= 3, "one step held a token of each answer"


def test_a_members_stop_ends_a_streaming_answer_and_keeps_its_text(team, settings):
    settings.LLM_FAKE_ANSWER_TOKENS = 100_000
    settings.LLM_MAX_TOKENS = 100_000
    reply = assistant_reply(thread=team.thread, asker=team.owner)
    answering = in_background(lambda: reply_generate(reply_id=reply.pk))
    until(lambda: live_text_get_many([reply.pk]).get(reply.pk, (0, ""))[0] >= 2, what="frames")

    assert reply_stop(reply=Message.objects.get(pk=reply.pk), by=team.member)
    joined(answering)

    reply.refresh_from_db()
    assert reply.status == Message.Status.STOPPED
    assert reply.stop_reason == "stopped by bob"
    assert reply.body.startswith(" w1 w2")
    assert (reply.generation.completion_tokens or 0) < 100_000


def test_an_answer_of_at_most_n_tokens_gets_n(team):
    team.thread.max_tokens_override = 7
    team.thread.save()
    reply = assistant_reply(thread=team.thread, asker=team.owner)

    reply_generate(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.body == fake_answer(7)
    assert reply.generation.completion_tokens == 7
    assert reply.stop_reason == "length"


def test_a_document_write_and_an_answer_run_on_the_one_engine_at_once(team, sent_tasks):
    """(``sent_tasks``: the write's task stays here, away from a live test's worker.)"""
    from documents.services import document_create

    document = document_create(workspace=team.workspace, title="Plan", created_by=team.owner)
    write = write_request(document=document, by=team.member, instruction="Write an intro.")
    reply = assistant_reply(thread=team.thread, asker=team.owner)

    in_threads(
        lambda: document_write_generate(write_id=write.pk),
        lambda: reply_generate(reply_id=reply.pk),
    )

    write.refresh_from_db()
    reply.refresh_from_db()
    assert write.status == DocumentWrite.Status.DONE
    assert write.written == fake_answer(40)
    assert reply.status == Message.Status.DONE
    assert max(stand_in()[0].decodes) >= 2


def test_a_write_into_text_beyond_ascii_ends_done_with_every_word_in_place(team, sent_tasks):
    from documents.selectors import document_state_get
    from documents.services import document_create, document_rewrite

    document = document_create(workspace=team.workspace, title="Plan", created_by=team.owner)
    document_rewrite(document_id=document.pk, text="Café — 📄 plan: ", author=team.owner)
    write = write_request(document=document, by=team.member, instruction="Go on.")

    document_write_generate(write_id=write.pk)

    write.refresh_from_db()
    assert write.status == DocumentWrite.Status.DONE
    state = document_state_get(document_id=document.pk)
    assert text_of(doc_from(state)) == "Café — 📄 plan: " + fake_answer(40)


def test_a_prompt_longer_than_an_answers_context_fails_the_answer_saying_so(team, settings):
    settings.LLM_N_CTX = 64
    reply = assistant_reply(
        thread=team.thread, asker=team.owner, question="@assistant " + "x" * 500
    )

    reply_generate(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED
    assert "64 tokens" in reply.error, "it says how much fits"
