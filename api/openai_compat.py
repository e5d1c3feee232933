"""The OpenAI-compatible API (``/v1``): the installation's models for any tool that speaks
the OpenAI chat API, authenticated by a Roundtable token as the API key.

``POST /v1/chat/completions`` becomes a model job on the model's own queue, behind the
workspace's answers (``llm.completion_jobs``); the request follows the job's topic before it
enqueues it, waits for the worker to accept the prompt (or refuse it: over the context
window is a 400), then answers with the whole completion or streams standard chunks ending
in ``data: [DONE]``. A client that goes away cancels its job, queued or generating.
"""

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from ninja import NinjaAPI, Router, Schema
from pydantic import ConfigDict, Field, field_validator

from chat.models import Assistant
from llm.completion_jobs import (
    CHUNK,
    DONE,
    ERROR,
    JOB_TTL_S,
    STARTED,
    CompletionJob,
    completion_job_enqueue,
    completion_stop_request,
)
from llm.model import model_spec_from_settings
from llm.models import LanguageModel
from realtime.topics import completion_topic
from workspace.selectors import workspace_list_for_user

from .auth import TokenAuth, token_of, user_of
from .errors import ApiError, error_body, exception_handlers_install
from .streaming import EventStreamResponse, TopicListener

logger = logging.getLogger(__name__)

router = Router(tags=["openai"])

# How long a request waits between two events of its job before it says so (a model that
# is busy with other work sends nothing meanwhile: the wait is on the queue, not a fault).
EVENT_WAIT_S = 15.0


class ContentPart(Schema):
    type: Literal["text"]
    text: str


class ChatMessage(Schema):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart]
    name: str | None = None

    def as_prompt(self) -> dict[str, str]:
        content = self.content
        if not isinstance(content, str):
            content = "".join(part.text for part in content)
        return {"role": "system" if self.role == "developer" else self.role, "content": content}


class StreamOptions(Schema):
    model_config = ConfigDict(extra="forbid")

    include_usage: bool = False


class ChatCompletionIn(Schema):
    """The OpenAI request; parameters a local model cannot honour are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    model: str
    messages: list[ChatMessage] = Field(min_length=1, max_length=1000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    n: int = Field(default=1, ge=1, le=1, description="One choice only.")
    user: str | None = None
    seed: int | None = None

    @field_validator("stop")
    @classmethod
    def _at_most_four(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError("At most 4 stop sequences.")
        return value

    @property
    def answer_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class ModelOut(Schema):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelListOut(Schema):
    object: Literal["list"] = "list"
    data: list[ModelOut]


@dataclass(frozen=True)
class ServedModel:
    """A model a token may name: one of the installation's, or a workspace's assistant (its
    model, with its instructions and settings as defaults)."""

    id: str
    model_id: int | None  # the LanguageModel; None: the installation's default model
    n_ctx: int
    created: int
    owned_by: str
    assistant: Assistant | None = None


def assistant_model_id(assistant: Assistant) -> str:
    """An assistant as a model name: handles are unique per workspace, so the workspace's id
    comes first (``4/@scribe``)."""
    return f"{assistant.workspace_id}/@{assistant.handle}"


def models_served(request: HttpRequest) -> dict[str, ServedModel]:
    """What the token may use: the default model, the enabled and available registered
    models, then the assistants of the workspaces it reaches whose model is served."""
    default = model_spec_from_settings()
    name = default.name or default.path.stem
    served = {name: ServedModel(name, None, default.n_ctx, 0, "roundtable")}
    for model in LanguageModel.objects.filter(enabled=True, available=True).order_by("name"):
        created = int(model.created_at.timestamp())
        served.setdefault(
            model.name, ServedModel(model.name, model.pk, model.n_ctx, created, "roundtable")
        )
    workspaces = workspace_list_for_user(user=user_of(request))
    limited_to = token_of(request).workspace_id
    if limited_to is not None:
        workspaces = workspaces.filter(pk=limited_to)
    assistants = (
        Assistant.objects.filter(
            workspace__in=workspaces, model__enabled=True, model__available=True
        )
        .select_related("model", "workspace")
        .order_by("workspace_id", "handle")
    )
    for assistant in assistants:
        served[assistant_model_id(assistant)] = ServedModel(
            assistant_model_id(assistant),
            assistant.model_id,
            assistant.model.n_ctx,
            int(assistant.created_at.timestamp()),
            assistant.workspace.name,
            assistant,
        )
    return served


@router.get("/models", response=ModelListOut)
def model_list(request: HttpRequest) -> dict[str, Any]:
    """The models this token may use: the installation's (its default model first), then
    the assistants of its workspaces (``<workspace id>/@<handle>``)."""
    return {
        "object": "list",
        "data": [
            {"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by}
            for m in models_served(request).values()
        ],
    }


def _job_for(request: HttpRequest, payload: ChatCompletionIn) -> CompletionJob:
    served = models_served(request).get(payload.model)
    if served is None:
        raise ApiError(
            404,
            "model_not_found",
            f"The model {payload.model!r} does not exist here; GET /v1/models lists them.",
            param="model",
        )
    limit = payload.answer_limit
    if limit is not None and limit >= served.n_ctx:
        raise ApiError(
            400,
            "context_length_exceeded",
            f"max_tokens is {limit}, but this model's whole context window is "
            f"{served.n_ctx} tokens.",
            param="max_tokens",
        )
    messages = [message.as_prompt() for message in payload.messages]
    temperature = payload.temperature
    assistant = served.assistant
    if assistant is not None:  # its instructions and settings, unless the request has its own
        if not any(m["role"] == "system" for m in messages):
            instructions = assistant.system_prompt or settings.LLM_SYSTEM_PROMPT
            system = instructions.replace("{name}", assistant.display_name)
            messages.insert(0, {"role": "system", "content": system})
        if "temperature" not in payload.model_fields_set:
            temperature = assistant.temperature
        if limit is None:
            limit = min(assistant.max_tokens, served.n_ctx - 1)
    stop = [payload.stop] if isinstance(payload.stop, str) else list(payload.stop or [])
    return CompletionJob(
        model_id=served.model_id,
        model_name=payload.model,
        messages=messages,
        max_tokens=limit,
        temperature=temperature,
        top_p=payload.top_p,
        stop=stop,
    )


def _slots_key(user_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:completions-open:{user_id}"


# Each script runs whole in Redis, so concurrent takes and gives never interleave: a take
# counts only under the limit (a refused request never touches the count), a give never goes
# below zero. KEYS[1]: the count; ARGV: the limit, the count's lifetime in seconds.
_SLOT_TAKE = """
local open = tonumber(redis.call('GET', KEYS[1]) or '0')
if open >= tonumber(ARGV[1]) then return -1 end
open = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return open
"""
_SLOT_GIVE = """
local open = tonumber(redis.call('GET', KEYS[1]) or '0')
if open <= 0 then return -1 end
return redis.call('DECR', KEYS[1])
"""


@functools.cache
def _slots_redis() -> redis.Redis:
    """The Redis server the counts live on (the cache's): Lua scripts need a plain client."""
    return redis.Redis.from_url(settings.REDIS_URL)


def completion_slot_take(user_id: int) -> bool:
    """Count one more completion open for the person, or refuse it (429) over
    ASSISTANT_MAX_PENDING_PER_USER, as their questions in threads are limited: one person's
    script must not fill a model's queue ahead of everyone. Counted in Redis, so it holds
    across web replicas; a count a crashed process left expires with the job's lifetime.

    True when counted (give it back with ``completion_slot_give``); False when Redis is away
    (nothing counted: the limit must not take the API down with it)."""
    limit = settings.ASSISTANT_MAX_PENDING_PER_USER
    client = _slots_redis()
    try:
        opened = int(client.eval(_SLOT_TAKE, 1, _slots_key(user_id), limit, JOB_TTL_S))
    except redis.RedisError:
        logger.warning("Open completions not counted: Redis is unavailable", exc_info=True)
        return False
    if opened < 0:
        raise ApiError(
            429,
            "too_many_completions",
            f"You already have {limit} completions running or waiting; wait for one to end.",
            headers={"Retry-After": "5"},
        )
    return True


def completion_slot_give(user_id: int) -> bool:
    """Give back one of the person's open completions; False if none was counted (the count
    never goes below zero, whoever gives at the same time)."""
    try:
        return int(_slots_redis().eval(_SLOT_GIVE, 1, _slots_key(user_id))) >= 0
    except redis.RedisError:
        logger.warning("Open completion not given back: Redis is unavailable", exc_info=True)
        return False


def completion_slots_open(user_id: int) -> int:
    """How many completions the person has open, as counted."""
    return int(_slots_redis().get(_slots_key(user_id)) or 0)


class CompletionSlot:
    """One request's place among its person's open completions, from its take to its
    give-back, which happens once, however the request ends: a place left taken would refuse
    the person's next requests until the count expires (an hour)."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.held = False

    async def take(self) -> None:
        """Take the place, or raise the 429. A request cancelled meanwhile (its client left)
        still gives back the place once the count has it."""
        taking = asyncio.ensure_future(_in_a_thread(completion_slot_take, self.user_id))
        try:
            self.held = await asyncio.shield(taking)
        except asyncio.CancelledError:
            taking.add_done_callback(self._given_back_when_taken)
            raise

    def _given_back_when_taken(self, taking: "asyncio.Future[bool]") -> None:
        if not taking.cancelled() and taking.exception() is None and taking.result():
            self.held = True
            _background(self.give())

    async def give(self) -> None:
        """Give the place back; again, or never taken: nothing. The give-back runs to its end
        even if the caller is cancelled while it waits for it."""
        if not self.held:
            return
        self.held = False  # before any await: no other call can start a second give-back
        await asyncio.shield(_background(_in_a_thread(completion_slot_give, self.user_id)))


# Tasks that must finish although their caller may not wait for them (the loop holds tasks
# only weakly).
_running: set["asyncio.Task[Any]"] = set()


async def _in_a_thread(count: Callable[[int], bool], user_id: int) -> bool:
    """A count's Redis call, off the event loop. Not on the request's own thread (it touches
    no database): a give-back may run after the request's thread is gone."""
    return await sync_to_async(count, thread_sensitive=False)(user_id)


def _background(work: Coroutine[Any, Any, Any]) -> "asyncio.Task[Any]":
    task = asyncio.ensure_future(work)
    _running.add(task)
    task.add_done_callback(_running.discard)
    return task


@router.post(
    "/chat/completions",
    response={200: None},
    openapi_extra={
        "responses": {
            200: {
                "description": "A chat.completion, or with stream: chat.completion.chunk "
                "events ending in data: [DONE]",
                "content": {"application/json": {}, "text/event-stream": {}},
            }
        }
    },
)
async def chat_completion(
    request: HttpRequest, payload: ChatCompletionIn
) -> HttpResponse | StreamingHttpResponse:
    """A chat completion by one of the installation's models, in the OpenAI format."""
    job = await sync_to_async(_job_for)(request, payload)
    slot = CompletionSlot(user_of(request).pk)
    await slot.take()
    try:
        listener = await TopicListener(completion_topic(job.id)).open()
    except BaseException:
        await slot.give()
        raise
    completion = Completion(job, listener, slot=slot)
    streaming = False
    try:
        await sync_to_async(completion_job_enqueue)(job)
        await completion.accepted()
        if not payload.stream:
            return JsonResponse(await completion.whole())
        include_usage = bool(payload.stream_options and payload.stream_options.include_usage)
        response = EventStreamResponse(
            completion.sse(include_usage=include_usage), cleanup=completion.abandon
        )
        streaming = True  # from here on the response ends it, however it ends
        return response
    finally:
        if not streaming:
            await completion.abandon()


class Completion:
    """One job's events, turned into the OpenAI answer."""

    def __init__(
        self, job: CompletionJob, listener: TopicListener, *, slot: CompletionSlot
    ) -> None:
        self.job, self.listener, self.slot = job, listener, slot
        self.id = f"chatcmpl-{job.id}"
        self.created = int(time.time())
        self.prompt_tokens = 0
        self.ended = False
        self.stop_requested = False

    async def _next(self) -> dict[str, Any]:
        """The job's next event. Before it starts it may wait its turn as long as the queue
        takes (a client that gives up cancels it); once started, a worker silent for
        ``REPLY_STALE_AFTER_S`` is taken as lost, as for thread answers."""
        silent_s = 0.0
        while (event := await self.listener.next(EVENT_WAIT_S)) is None:
            silent_s += EVENT_WAIT_S
            if self.prompt_tokens and silent_s >= settings.REPLY_STALE_AFTER_S:
                self.ended = True
                return {
                    "type": ERROR,
                    "status": 503,
                    "code": "worker_lost",
                    "message": "The model worker stopped responding; try again.",
                }
        return event

    async def accepted(self) -> None:
        """Wait for the worker to take the prompt; raise its refusal as the API's error."""
        event = await self._next()
        if event["type"] == ERROR:
            self.ended = True
            raise ApiError(event["status"], event["code"], event["message"])
        assert event["type"] == STARTED, event
        self.prompt_tokens = event["prompt_tokens"]

    async def abandon(self) -> None:
        """Stop listening; a job that has not ended is cancelled (its client is gone), and
        its place among its person's open completions is given back, exactly once. It runs
        from the stream's end and again from the response's close, and may be cancelled
        midway (a client that hangs up as the stream ends): each run gives the place back
        unless an earlier one already has."""
        try:
            await asyncio.shield(_background(self.listener.close()))
            if not self.ended and not self.stop_requested:
                self.stop_requested = True
                await asyncio.shield(sync_to_async(completion_stop_request)(self.job.id))
        finally:
            await self.slot.give()

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        while not self.ended:
            event = await self._next()
            if event["type"] in (DONE, ERROR):
                self.ended = True
            yield event

    async def whole(self) -> dict[str, Any]:
        text, done = "", None
        async for event in self.events():
            if event["type"] == CHUNK:
                text += event["delta"]
            elif event["type"] == ERROR:
                raise ApiError(event["status"], event["code"], event["message"])
            else:
                done = event
        assert done is not None
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.job.model_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": done["finish_reason"],
                }
            ],
            "usage": _usage(done),
        }

    def _chunk(self, delta: dict[str, str], finish_reason: str | None = None) -> bytes:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.job.model_name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        return _data(chunk)

    async def sse(self, *, include_usage: bool) -> AsyncIterator[bytes]:
        try:
            yield self._chunk({"role": "assistant", "content": ""})
            async for event in self.events():
                if event["type"] == CHUNK:
                    yield self._chunk({"content": event["delta"]})
                elif event["type"] == ERROR:  # the official client raises APIError on it
                    yield _data(error_body(event["status"], event["code"], event["message"]))
                    return
                else:
                    yield self._chunk({}, finish_reason=event["finish_reason"])
                    if include_usage:
                        usage = {
                            "id": self.id,
                            "object": "chat.completion.chunk",
                            "created": self.created,
                            "model": self.job.model_name,
                            "choices": [],
                            "usage": _usage(event),
                        }
                        yield _data(usage)
            yield b"data: [DONE]\n\n"
        finally:
            await self.abandon()


def _usage(done: dict[str, Any]) -> dict[str, int]:
    prompt, completion = int(done["prompt_tokens"]), int(done["completion_tokens"])
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _data(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


def openai_api_build() -> NinjaAPI:
    from .api import JsonBodyParser

    v1 = NinjaAPI(
        title="Roundtable OpenAI-compatible API",
        version="v1",
        description=(
            "The installation's models for any tool that speaks the OpenAI chat API: set its "
            "base URL to this server's `/v1` and its API key to a Roundtable API token. "
            "Completions wait their turn on the model's queue with the workspace's answers."
        ),
        auth=TokenAuth(writes_need_write_token=False),
        parser=JsonBodyParser(),
        urls_namespace="v1",
    )
    v1.add_router("/", router)
    exception_handlers_install(v1)
    return v1


openai_api = openai_api_build()
