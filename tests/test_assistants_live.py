"""Several assistants in one thread on the live stack: each answer on its model's own worker."""

import time

import pytest

from chat.models import Message
from chat.services import message_create
from harness.live_stack import processes_stop, worker_start
from llm.routing import model_queue
from llm.services import models_register_bundled

from .factories import LONG_ANSWER_PROMPT, AssistantFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

ANSWERS_TIMEOUT_S = 180


def test_two_assistants_on_two_models_stream_at_the_same_time_on_two_workers(live_stack, team):
    registered = {model.name: model for model in models_register_bundled()}
    if "Gemma-3-270M" not in registered:
        pytest.skip("Gemma 3 270M is not installed (requirements-model.txt)")
    for handle, model in (("scribe", "SmolLM2-135M-Instruct"), ("critic", "Gemma-3-270M")):
        AssistantFactory.create(
            workspace=team.workspace,
            handle=handle,
            display_name=handle.title(),
            model=registered[model],
            max_tokens=160,
        )
    workers = [
        worker_start(
            live_stack.env, queue=model_queue(registered[model].pk), name=f"worker-{model}"
        )
        for model in ("SmolLM2-135M-Instruct", "Gemma-3-270M")
    ]
    try:
        question = message_create(
            thread=team.thread,
            author=team.member,
            body=LONG_ANSWER_PROMPT.replace("@assistant", "@scribe @critic"),
        )
        answers = Message.objects.filter(in_reply_to=question).select_related("generation")
        deadline = time.monotonic() + ANSWERS_TIMEOUT_S
        while answers.filter(status__in=Message.ACTIVE_STATUSES).exists():
            assert time.monotonic() < deadline, "the answers did not end in time"
            time.sleep(0.2)
    finally:
        processes_stop(workers)

    runs = {answer.generation.assistant_handle: answer for answer in answers}
    assert {handle: answer.status for handle, answer in runs.items()} == {
        "scribe": "done",
        "critic": "done",
    }
    scribe, critic = runs["scribe"], runs["critic"]
    assert scribe.generation.model_name == "SmolLM2-135M-Instruct"
    assert critic.generation.model_name == "Gemma-3-270M"
    assert scribe.finished_at is not None
    assert critic.finished_at is not None
    assert critic.generation.started_at < scribe.finished_at, "they streamed at the same time"
    assert scribe.generation.started_at < critic.finished_at, "they streamed at the same time"
