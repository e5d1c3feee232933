"""The official ``openai`` package against the live stack: daphne, the model's Celery worker
(queue ``llm``) and the real bundled model."""

import re
import time

import openai
import pytest
from openai import OpenAI

from api.services import api_token_create
from harness.live_stack import TEST_LOG_DIR
from llm.model import model_spec_from_settings

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]

TIMEOUT_S = 120


@pytest.fixture
def client(live_stack, team) -> OpenAI:
    _, key = api_token_create(user=team.member, name="openai")
    return OpenAI(
        base_url=f"{live_stack.http_url}/v1", api_key=key, max_retries=0, timeout=TIMEOUT_S
    )


def model_name() -> str:
    spec = model_spec_from_settings()
    return spec.name or spec.path.stem


MESSAGES = [
    {"role": "system", "content": "You are brief."},
    {"role": "user", "content": "Name three colours."},
]


def test_models_and_a_completion(client):
    assert model_name() in [model.id for model in client.models.list()]
    answer = client.chat.completions.create(model=model_name(), messages=MESSAGES, max_tokens=16)
    choice = answer.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert 0 < answer.usage.completion_tokens <= 16
    assert answer.usage.prompt_tokens > 0


def test_a_streamed_completion(client):
    stream = client.chat.completions.create(
        model=model_name(),
        messages=MESSAGES,
        max_tokens=16,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] in ("stop", "length")
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens <= 16


def test_the_clients_errors(client, live_stack):
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=MESSAGES)
    with pytest.raises(openai.BadRequestError) as over:
        client.chat.completions.create(
            model=model_name(), messages=[{"role": "user", "content": "word " * 5000}]
        )
    assert over.value.code == "context_length_exceeded"
    with pytest.raises(openai.AuthenticationError):
        OpenAI(
            base_url=f"{live_stack.http_url}/v1", api_key="rt_wrong", max_retries=0
        ).models.list()


def test_closing_the_stream_cancels_the_generation(client):
    stream = client.chat.completions.create(
        model=model_name(),
        messages=[{"role": "user", "content": "Write a very long story about a lighthouse."}],
        max_tokens=1500,
        temperature=0.0,
        stream=True,
    )
    job_id = ""
    for index, chunk in enumerate(stream):
        job_id = chunk.id.removeprefix("chatcmpl-")
        if index == 3:
            break
    stream.close()
    log = TEST_LOG_DIR / "worker.log"
    deadline = time.monotonic() + 30
    cancelled = re.compile(rf"Completion {job_id} cancelled")
    while not cancelled.search(log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cancelled.search(log.read_text()), "the worker went on generating"
    # The worker is free again at once: a short request is answered without waiting.
    started = time.monotonic()
    client.chat.completions.create(model=model_name(), messages=MESSAGES, max_tokens=4)
    assert time.monotonic() - started < 30
