"""The generation service with the real bundled model, run in the test process.

Tests that generate carry the ``model`` marker (or use ``loaded_model``, which adds it); the
ones that prove nothing is generated, and those on the stand-in model (``fake_model``), run in
the fast tier.
"""

import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat.models import Message
from llm.first_token_steps import FIRST_TOKEN_STEPS
from llm.prompt import Turn

from .factories import LONG_ANSWER_PROMPT, MessageFactory, assistant_reply
from .model_worker import reply_generate

pytestmark = pytest.mark.django_db


def test_the_prompt_uses_the_gguf_chat_template_and_names_each_speaker(loaded_model):
    assert loaded_model.has_chat_template
    tokens = loaded_model.prompt_tokens(
        system="Be brief.", turns=[Turn("alice", "Name it?")], assistant_name="assistant"
    )
    text = loaded_model.vocabulary.text(tokens)
    assert "<|im_start|>system\nBe brief.<|im_end|>" in text
    assert "<|im_start|>user\nalice: Name it?<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_a_reply_is_generated_saved_and_measured(team, loaded_model):
    reply = assistant_reply(thread=team.thread, asker=team.owner, question="@assistant say hello")

    reply_generate(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == Message.Status.DONE
    assert reply.body.strip()
    assert reply.generation.model_name == loaded_model.name
    assert reply.stop_reason in {"stop", "length"}
    assert (reply.generation.prompt_tokens or 0) > 0
    assert (reply.generation.completion_tokens or 0) > 0
    assert reply.generation.time_to_first_token_ms is not None
    assert reply.generation.time_to_first_token_ms >= 0
    assert (reply.generation.tokens_per_second or 0) > 0
    assert reply.last_seq >= 1
    assert reply.finished_at is not None
    steps = reply.generation.first_token_steps_ms  # where the time to the first frame went
    assert set(steps) == set(FIRST_TOKEN_STEPS)
    assert all(ms >= 0 for ms in steps.values())


@pytest.mark.model
def test_a_long_thread_is_fitted_into_a_small_context_window(team, settings):
    settings.LLM_N_CTX = 512
    settings.LLM_MAX_TOKENS = 64
    for index in range(40):
        MessageFactory(
            thread=team.thread, author=team.member, body=f"Note {index}: " + "lorem ipsum " * 40
        )
    reply = assistant_reply(
        thread=team.thread, asker=team.owner, question="@assistant summarise the notes"
    )

    reply_generate(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == Message.Status.DONE, reply.error
    assert reply.generation.prompt_tokens is not None
    assert reply.generation.completion_tokens is not None
    assert reply.generation.prompt_tokens + reply.generation.completion_tokens <= 512
    assert reply.generation.prompt_tokens <= 512 - 64, "room is kept for the answer"


def test_the_answer_is_written_at_most_once_a_second_plus_start_and_end(team, fake_model, settings):
    # How often the text is saved depends on time, not on the model: 120 words over 3 s.
    settings.LLM_FAKE_ANSWER_TOKENS = 120
    settings.LLM_FAKE_STEP_S = 0.025
    reply = assistant_reply(thread=team.thread, asker=team.owner, question=LONG_ANSWER_PROMPT)

    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        reply_generate(reply_id=reply.pk)
    elapsed = time.monotonic() - started

    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    writes = [sql for sql in updates if sql.startswith('UPDATE "chat_message"')]
    assert len(writes) <= 2 + int(elapsed) + 1
    # Each save of the answer is its job's too (start, heartbeats, end).
    job_writes = [sql for sql in updates if sql.startswith('UPDATE "jobs_modeljob"')]
    assert len(job_writes) == len(writes)
    # Besides, when it ends: the thread's revision, its last activity, and the run's figures.
    assert len(updates) - len(writes) - len(job_writes) == 3
    reply.refresh_from_db()
    assert (reply.generation.completion_tokens or 0) > 50, (
        "a long answer, so that many frames were sent"
    )
    assert reply.last_seq > len(writes)


def test_a_reply_that_is_not_queued_is_left_alone(team):
    reply = assistant_reply(thread=team.thread, asker=team.owner, question="@assistant hi")
    Message.objects.filter(pk=reply.pk).update(status=Message.Status.DONE, body="earlier")

    reply_generate(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.body == "earlier"


def test_a_reply_deleted_before_generation_is_skipped(team):
    reply = assistant_reply(thread=team.thread, asker=team.owner, question="@assistant hi")
    reply_id = reply.pk
    reply.delete()

    reply_generate(reply_id=reply_id)

    assert not Message.objects.filter(pk=reply_id).exists()


def test_a_model_that_cannot_be_loaded_fails_the_reply_with_a_reason(team, settings):
    settings.LLM_MODEL_PATH = "/nonexistent/model.gguf"
    reply = assistant_reply(thread=team.thread, asker=team.owner, question="@assistant hi")

    reply_generate(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED
    assert "No model file at /nonexistent/model.gguf" in reply.error


def test_an_error_mid_stream_fails_the_reply_and_keeps_the_partial_text(team, fake_model, settings):
    settings.LLM_FAKE_FAILS_AT_TOKEN = 5  # the model falls over at its fifth word
    reply = assistant_reply(
        thread=team.thread, asker=team.owner, question="@assistant write a long story"
    )

    reply_generate(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED
    assert "could not decode" in reply.error
    assert reply.body.startswith(" w1 w2 w3"), "the text generated before the error is kept"
