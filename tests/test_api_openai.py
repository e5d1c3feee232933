"""The OpenAI-compatible API: the standard formats, its refusals, the model queues, and
cancelling a completion whose client left. The worker's side runs in a thread here, on the
stand-in model (``fake_model``: answers " w1 w2 ..."; the real model:
tests/test_api_openai_live.py)."""

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.db import connections

from api.services import api_token_create
from config.celery import app as celery_app
from jobs.models import ModelJob
from jobs.services import JobLimitReached, job_create, job_stop, jobs_sweep
from llm.model import model_spec_from_settings
from llm.models import LanguageModel
from llm.routing import route_model_job
from llm.services import language_model_spec
from tests.factories import AssistantFactory, LanguageModelFactory, WorkspaceFactory
from tests.gguf_files import tiny_llama
from tests.model_worker import completion_generate, in_background, joined, stand_in

READ_TIMEOUT_S = 10


# A clean cache, and the async views' database connections closed after each test.
pytestmark = pytest.mark.usefixtures("fresh_cache", "database_threads_closed")


ANSWER = " w1 w2 w3 w4"  # the stand-in's whole answer here (fake_answer(4))


@dataclass
class Worker:
    """The default model's worker: each completion sent to a queue runs on a thread here."""

    sent: list[tuple[str, list[Any], int | None]] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)

    def send_task(self, name: str, args: list[Any], **options: Any) -> None:
        self.sent.append((name, args, options["headers"]["model_id"]))
        if name == "llm.complete_chat":
            self.threads.append(in_background(lambda: completion_generate(job_id=args[0])))

    def ended(self) -> None:
        """Wait until every completion's generation has ended."""
        for thread in self.threads:
            joined(thread)


@pytest.fixture
def model(fake_model, settings, monkeypatch) -> Iterator[Worker]:
    """The stand-in model, answering ANSWER, and its worker; each test's generations have
    ended when it ends."""
    settings.LLM_FAKE_ANSWER_TOKENS = 4
    worker = Worker()
    monkeypatch.setattr(celery_app, "send_task", worker.send_task)
    yield worker
    worker.ended()


def job_of(answer: dict[str, Any]) -> ModelJob:
    return ModelJob.objects.get(pk=int(answer["id"].removeprefix("chatcmpl-")))


@pytest.fixture
def key(team) -> str:
    return api_token_create(user=team.member, name="openai")[1]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def completions_open(user_id: int) -> int:
    """The person's completions waiting or running: what counts against their limit."""
    return ModelJob.objects.filter(
        requested_by_id=user_id, kind="completion", status__in=ModelJob.ACTIVE_STATUSES
    ).count()


async def open_completions_when_settled(user_id: int, expected: int = 0) -> int:
    """The person's count of open completions once it is ``expected``, or as it is when
    READ_TIMEOUT_S have passed (a stopped job ends after the response has ended)."""
    deadline = time.monotonic() + READ_TIMEOUT_S
    while True:
        count = await sync_to_async(completions_open)(user_id)
        if count == expected or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.02)


async def answer_begun() -> None:
    """Wait until the stand-in has decoded a few steps of an answer. (Not from the database:
    a view waiting for its completion holds the thread that async code reads it on.)"""
    async with asyncio.timeout(READ_TIMEOUT_S):
        while len((await asyncio.to_thread(stand_in))[0].decodes) < 4:
            await asyncio.sleep(0.02)


def default_model_name() -> str:
    spec = model_spec_from_settings()
    return spec.name or spec.path.stem


# --- Models and refusals (no worker needed) ---------------------------------------------


@pytest.mark.django_db
def test_models_lists_the_default_and_the_served_registered_models(client, key):
    LanguageModelFactory.create(name="served", available=True)
    LanguageModelFactory.create(name="broken", available=False)
    LanguageModelFactory.create(name="off", available=True, enabled=False)
    listed = client.get("/v1/models", headers=auth(key)).json()
    assert listed["object"] == "list"
    assert [m["id"] for m in listed["data"]] == [default_model_name(), "served"]
    assert all(m["object"] == "model" for m in listed["data"])


@pytest.mark.django_db
def test_no_key_gets_401_in_the_openai_error_format(client):
    response = client.get("/v1/models")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"model": "nope", "messages": [{"role": "user", "content": "hi"}]},
            404,
            "model_not_found",
        ),
        (
            {
                "model": "DEFAULT",
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 10**6,
            },
            400,
            "context_length_exceeded",
        ),
        (
            {"model": "DEFAULT", "messages": [{"role": "user", "content": "hi"}], "top_k": 3},
            400,
            "unknown_field",
        ),
        (
            {"model": "DEFAULT", "messages": [{"role": "user", "content": "hi"}], "n": 2},
            400,
            "invalid",
        ),
        ({"model": "DEFAULT", "messages": []}, 400, "invalid"),
        ({"model": "DEFAULT", "messages": [{"role": "robot", "content": "hi"}]}, 400, "invalid"),
    ],
)
def test_bad_requests_are_refused_before_any_job_is_queued(
    client, key, sent_tasks, body, status, code
):
    if body["model"] == "DEFAULT":
        body = {**body, "model": default_model_name()}
    response = client.post(
        "/v1/chat/completions", body, content_type="application/json", headers=auth(key)
    )
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert sent_tasks == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("temperature", -0.1),
        ("temperature", 2.01),
        ("temperature", "NaN"),
        ("temperature", "Infinity"),
        ("top_p", 0),
        ("top_p", 1.5),
        ("top_p", "NaN"),
        ("max_tokens", 0),
        ("max_tokens", -5),
        ("max_tokens", 1_000_001),
        ("max_completion_tokens", 0),
    ],
)
def test_sampler_settings_out_of_range_are_refused_before_any_job_is_queued(
    client, key, sent_tasks, setting, value
):
    body = json.dumps(
        {"model": default_model_name(), "messages": [{"role": "user", "content": "hi"}]}
    )
    # NaN and Infinity as Python's JSON reader takes them (bare words, not strings).
    body = body[:-1] + f', "{setting}": {value}}}'
    response = client.post(
        "/v1/chat/completions", body, content_type="application/json", headers=auth(key)
    )
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("invalid", f"body.{setting}")
    assert error["message"].startswith(f"body.{setting}: ")
    assert sent_tasks == []


def test_completions_go_to_their_models_queue():
    def queue_of(model_id: int | None) -> dict[str, str]:
        return route_model_job("llm.complete_chat", [1], {}, {"headers": {"model_id": model_id}})

    assert queue_of(None) == {"queue": "llm"}
    assert queue_of(7) == {"queue": "llm.model-7"}


# --- Completions (the worker in a thread) -----------------------------------------------


pytest_async = pytest.mark.django_db(transaction=True)


def question(**extra) -> dict:
    return {
        "model": default_model_name(),
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Is the plan ready?"},
        ],
        **extra,
    }


def sse_data(raw: bytes) -> list[str]:
    return [
        line[len("data: ") :] for line in raw.decode().split("\n\n") if line.startswith("data: ")
    ]


@pytest_async
async def test_a_completion_in_the_standard_format_with_usage(async_client, key, model):
    response = await async_client.post(
        "/v1/chat/completions", question(), content_type="application/json", headers=auth(key)
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["object"] == "chat.completion"
    assert answer["model"] == default_model_name()
    [choice] = answer["choices"]
    assert choice["message"] == {"role": "assistant", "content": ANSWER}
    assert choice["finish_reason"] == "stop"
    usage = answer["usage"]
    assert usage["completion_tokens"] == 4
    assert usage["total_tokens"] == usage["prompt_tokens"] + 4 > 4
    job = await sync_to_async(job_of)(answer)
    assert model.sent == [("llm.complete_chat", [job.pk], None)], "the default model's queue"


@pytest_async
async def test_max_tokens_ends_the_answer_with_length(async_client, key, model):
    response = await async_client.post(
        "/v1/chat/completions",
        question(max_tokens=2),
        content_type="application/json",
        headers=auth(key),
    )
    answer = response.json()
    assert answer["choices"][0]["message"]["content"] == " w1 w2"
    assert answer["choices"][0]["finish_reason"] == "length"


@pytest_async
async def test_a_streamed_completion_is_standard_chunks_then_done(async_client, key, model):
    response = await async_client.post(
        "/v1/chat/completions",
        question(stream=True, stream_options={"include_usage": True}),
        content_type="application/json",
        headers=auth(key),
    )
    assert response["Content-Type"].startswith("text/event-stream")
    raw = b"".join([chunk async for chunk in response.streaming_content])
    assert b"event:" not in raw  # named events would confuse the official client
    data = sse_data(raw)
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == ANSWER
    final = [c for c in chunks if c["choices"]][-1]["choices"][0]
    assert (final["delta"], final["finish_reason"]) == ({}, "stop")
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 4


@pytest_async
async def test_a_prompt_over_the_context_window_is_a_400(async_client, team, key, model, settings):
    settings.LLM_N_CTX = 256
    long = {"role": "user", "content": "word " * 100}
    response = await async_client.post(
        "/v1/chat/completions",
        question(messages=[long]),
        content_type="application/json",
        headers=auth(key),
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert "256 tokens" in error["message"]
    await asyncio.to_thread(model.ended)
    assert not (await sync_to_async(stand_in)())[0].samplings, "not answered"
    assert await sync_to_async(completions_open)(team.member.pk) == 0, "its place is back"


@pytest_async
async def test_a_client_that_leaves_mid_stream_cancels_its_generation(
    async_client, team, key, model, settings
):
    settings.LLM_FAKE_ANSWER_TOKENS = 200
    settings.LLM_FAKE_STEP_S = 0.02
    response = await async_client.post(
        "/v1/chat/completions",
        question(stream=True),
        content_type="application/json",
        headers=auth(key),
    )
    chunks = aiter(response.streaming_content)
    first = await asyncio.wait_for(anext(chunks), READ_TIMEOUT_S)
    job_id = json.loads(first.decode()[len("data: ") :])["id"].removeprefix("chatcmpl-")
    await asyncio.wait_for(anext(chunks), READ_TIMEOUT_S)  # some text has come

    # The client goes away while reading: the server's response is cancelled.
    reading = asyncio.Event()

    async def read_on() -> None:
        async for _ in chunks:
            reading.set()

    reader = asyncio.ensure_future(read_on())
    await asyncio.wait_for(reading.wait(), READ_TIMEOUT_S)
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    assert await sync_to_async(_stop_reason)(int(job_id)) == "its client left"
    assert await open_completions_when_settled(team.member.pk) == 0, "its place is back"
    await asyncio.to_thread(model.ended)
    assert 0 < await sync_to_async(_completion_tokens)(int(job_id)) < 200, "it stopped midway"


@pytest_async
async def test_a_read_only_token_may_use_the_models(async_client, team, model):
    _, read_only = await sync_to_async(api_token_create)(
        user=team.member, name="ro", read_only=True
    )
    response = await async_client.post(
        "/v1/chat/completions", question(), content_type="application/json", headers=auth(read_only)
    )
    assert response.status_code == 200


@pytest.mark.django_db
def test_the_v1_schema_and_docs_are_served(client):
    assert "/v1/chat/completions" in client.get("/v1/openapi.json").json()["paths"]
    assert client.get("/v1/docs").status_code == 200


@pytest_async
async def test_a_client_that_leaves_before_the_whole_answer_cancels_it_too(
    async_client, team, key, model, settings
):
    settings.LLM_FAKE_ANSWER_TOKENS = 200
    settings.LLM_FAKE_STEP_S = 0.02
    request = asyncio.ensure_future(
        async_client.post(
            "/v1/chat/completions", question(), content_type="application/json", headers=auth(key)
        )
    )
    await answer_begun()
    request.cancel()  # as Django's handler cancels a view whose client disconnected
    with contextlib.suppress(asyncio.CancelledError):
        await request
    assert await open_completions_when_settled(team.member.pk) == 0, "its place is back"
    await asyncio.to_thread(model.ended)
    job = await sync_to_async(ModelJob.objects.get)(requested_by=team.member)
    assert 0 < (job.completion_tokens or 0) < 200, "it stopped midway"


@pytest.mark.django_db
def test_models_lists_the_assistants_of_the_workspaces_the_token_reaches(client, team):
    served = LanguageModelFactory.create(name="served", available=True)
    AssistantFactory.create(workspace=team.workspace, handle="scribe", model=served)
    AssistantFactory.create(workspace=team.workspace, handle="dormant")  # model unavailable
    AssistantFactory.create(workspace=WorkspaceFactory.create(), handle="theirs", model=served)
    member_key = api_token_create(user=team.member, name="all")[1]
    listed = [m["id"] for m in client.get("/v1/models", headers=auth(member_key)).json()["data"]]
    assert listed == [default_model_name(), "served", f"{team.workspace.pk}/@scribe"]
    outsider_key = api_token_create(user=team.outsider, name="x")[1]
    listed = [m["id"] for m in client.get("/v1/models", headers=auth(outsider_key)).json()["data"]]
    assert f"{team.workspace.pk}/@scribe" not in listed


@pytest_async
async def test_an_assistant_answers_with_its_model_instructions_and_settings(
    async_client, team, key, model, tmp_path
):
    @sync_to_async
    def scribe_made() -> tuple[str, LanguageModel]:
        served = LanguageModelFactory.create(
            name="served", path=str(tiny_llama(tmp_path / "served.gguf")), available=True
        )
        scribe = AssistantFactory.create(
            workspace=team.workspace,
            handle="scribe",
            display_name="Scribe",
            model=served,
            system_prompt="You are {name}; you write minutes.",
            temperature=0.2,
            max_tokens=3,
        )
        return f"{scribe.workspace_id}/@scribe", served

    name, served = await scribe_made()
    response = await async_client.post(
        "/v1/chat/completions",
        {"model": name, "messages": [{"role": "user", "content": "Minutes, please."}]},
        content_type="application/json",
        headers=auth(key),
    )
    assert response.status_code == 200, response.content
    assert response.json()["model"] == name
    assert response.json()["choices"][0]["message"]["content"] == " w1 w2 w3", "its max_tokens"
    backend, vocabulary = await sync_to_async(lambda: stand_in(language_model_spec(served)))()
    assert any("You are Scribe; you write minutes." in text for text in vocabulary.read)
    assert backend.samplings[-1].temperature == 0.2
    assert model.sent[0][2] == served.pk  # routed to the assistant's model's queue


@pytest_async
async def test_one_person_has_a_few_completions_open_at_once(async_client, key, model, settings):
    settings.MODEL_JOBS_MAX_PER_PERSON = 2
    settings.LLM_FAKE_ANSWER_TOKENS = 30
    settings.LLM_FAKE_STEP_S = 0.02

    async def ask() -> Any:
        return await async_client.post(
            "/v1/chat/completions",
            question(stream=True),
            content_type="application/json",
            headers=auth(key),
        )

    open_streams = [await ask(), await ask()]
    refused = await ask()
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "too_many_completions"
    assert refused["Retry-After"]
    for response in open_streams:  # read to their ends: their places are given back
        async for _ in response.streaming_content:
            pass
    again = await ask()
    assert again.status_code == 200
    async for _ in again.streaming_content:
        pass


@pytest_async
async def test_a_worker_that_goes_silent_mid_answer_ends_the_stream_with_an_error(
    async_client, key, model, settings
):
    settings.LLM_FAKE_ANSWER_TOKENS = 100_000  # it would go on long after the test
    settings.LLM_FAKE_STEP_S = 0.02
    response = await async_client.post(
        "/v1/chat/completions",
        question(stream=True),
        content_type="application/json",
        headers=auth(key),
    )
    chunks = aiter(response.streaming_content)
    received = [await asyncio.wait_for(anext(chunks), READ_TIMEOUT_S) for _ in range(2)]
    # What the housekeeping worker's beat does every REPLY_SWEEP_EVERY_S, once the job's
    # worker has been silent too long:
    interrupted, _ = await sync_to_async(jobs_sweep)(
        silent_for=timedelta(seconds=-1), waiting_for=timedelta(hours=1)
    )
    received += [chunk async for chunk in chunks]
    assert len(interrupted) == 1
    data = sse_data(b"".join(received))
    error = json.loads(data[-1])["error"]
    assert error["code"] == "worker_lost"
    assert "[DONE]" not in data


# --- Each person's open completions: counted once, given back once ----------------------


def _stop_reason(job_id: int) -> str:
    return ModelJob.objects.get(pk=job_id).stop_reason


def _completion_tokens(job_id: int) -> int:
    return ModelJob.objects.get(pk=job_id).completion_tokens or 0


def asgi_scope(path: str, key: str, body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {key}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def stream_closed_after_done(key: str, body: dict[str, Any], *, turns: int) -> bytes:
    """A streamed completion through Django's own ASGI handler, read by a client that hangs
    up right after ``data: [DONE]``: ``turns`` turns of the event loop later, so that a set
    of such clients has the hang-up land at every step of the server's clean-up."""
    request = json.dumps(body).encode()
    received = bytearray()
    done = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": request, "more_body": False}
        await done.wait()
        for _ in range(turns):
            await asyncio.sleep(0)  # one turn of the loop: no time passes
        return {"type": "http.disconnect"}

    async def send(message: Mapping[str, Any]) -> None:
        if message["type"] == "http.response.body":
            received.extend(message.get("body", b""))
            if b"data: [DONE]" in received:
                done.set()

    await ASGIHandler()(asgi_scope("/v1/chat/completions", key, request), receive, send)
    return bytes(received)


@pytest_async
async def test_streams_closed_right_after_done_give_every_place_back(team, key, model, settings):
    clients = 30
    settings.MODEL_JOBS_MAX_PER_PERSON = clients
    one_by_one = [
        await stream_closed_after_done(key, question(stream=True), turns=n) for n in range(clients)
    ]
    assert await open_completions_when_settled(team.member.pk) == 0
    at_once = await asyncio.gather(
        *(stream_closed_after_done(key, question(stream=True), turns=n) for n in range(clients))
    )
    assert await open_completions_when_settled(team.member.pk) == 0
    assert all(sse_data(raw)[-1] == "[DONE]" for raw in [*one_by_one, *at_once])


@pytest.mark.django_db
def test_a_place_is_given_back_once_however_often_its_job_is_stopped(team, settings):
    settings.MODEL_JOBS_MAX_PER_PERSON = 2
    person = team.member
    first = job_create(kind="completion", requested_by=person)
    job_create(kind="completion", requested_by=person)
    with pytest.raises(JobLimitReached):
        job_create(kind="completion", requested_by=person)

    assert job_stop(first, by=None, reason="its client left")
    assert not job_stop(first, by=None, reason="its client left"), (
        "the stream's end, then the close"
    )

    assert completions_open(person.pk) == 1
    job_create(kind="completion", requested_by=person)  # the place is back, once
    assert completions_open(person.pk) == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_never_take_more_places_than_the_limit(team, settings):
    settings.MODEL_JOBS_MAX_PER_PERSON = 10
    person = team.member

    def take(_: int) -> bool:
        try:
            job_create(kind="completion", requested_by=person)
        except JobLimitReached:
            return False
        finally:
            connections.close_all()
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        taken = list(pool.map(take, range(40)))
    assert taken.count(True) == 10
    assert completions_open(person.pk) == 10
