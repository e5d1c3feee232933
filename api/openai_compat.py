"""The OpenAI-compatible API (``/v1``): the installation's models for any tool that speaks
the OpenAI chat API, authenticated by a Roundtable token as the API key.

``POST /v1/chat/completions`` becomes a model job on the model's own queue, behind the
workspace's answers (``api.completion_jobs``); the request follows the job's topic before it
enqueues it, waits for the worker to accept the prompt (or refuse it: over the context
window is a 400), then answers with the whole completion or streams standard chunks ending
in ``data: [DONE]``. A client that goes away cancels its job, queued or generating.
"""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from asgiref.sync import sync_to_async
from channels.consumer import get_handler_name
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from ninja import NinjaAPI, Router, Schema
from pydantic import ConfigDict, Field, field_validator

from api.completion_jobs import (
    CompletionDone,
    CompletionError,
    CompletionRequest,
    CompletionStarted,
    completion_job_create,
)
from chat.models import Assistant
from jobs.models import ModelJob
from jobs.services import JobLimitReached, job_enqueue, job_stop
from llm.model import model_spec_from_settings
from llm.models import LanguageModel
from realtime.loops import task_kept
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


def _request_for(request: HttpRequest, payload: ChatCompletionIn) -> CompletionRequest:
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
    return CompletionRequest(
        model_id=served.model_id,
        model_name=payload.model,
        messages=messages,
        max_tokens=limit,
        temperature=temperature,
        top_p=payload.top_p,
        stop=stop,
    )


def _job_create(request: CompletionRequest, *, user: Any) -> ModelJob:
    """The completion's job, or the 429 when the person already has as many model jobs
    (answers, document writes, completions) waiting or running as allowed: one person's
    script must not fill a model's queue ahead of everyone."""
    try:
        return completion_job_create(request, requested_by=user)
    except JobLimitReached as exc:
        raise ApiError(
            429, "too_many_completions", " ".join(exc.messages), headers={"Retry-After": "5"}
        ) from None


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
    asked = await sync_to_async(_request_for)(request, payload)
    job = await sync_to_async(_job_create)(asked, user=user_of(request))
    try:
        listener = await TopicListener(completion_topic(str(job.pk))).open()
    except BaseException:
        await _job_stop(job)
        raise
    completion = Completion(job, asked, listener)
    streaming = False
    try:
        await sync_to_async(job_enqueue)(job)
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

    def __init__(self, job: ModelJob, asked: CompletionRequest, listener: TopicListener) -> None:
        self.job, self.asked, self.listener = job, asked, listener
        self.id = f"chatcmpl-{job.pk}"
        self.created = int(time.time())
        self.prompt_tokens = 0
        self.ended = False
        self.stop_asked = False
        self.include_usage = False

    async def _next(self) -> dict[str, Any]:
        """The job's next event. Before it starts it may wait its turn as long as the queue
        takes (a client that gives up stops it); a worker that goes silent is found by the
        jobs' sweep, which ends the job with the error ``worker_lost``."""
        while (event := await self.listener.next(EVENT_WAIT_S)) is None:
            pass
        return event

    async def accepted(self) -> None:
        """Wait for the worker to take the prompt; raise its refusal as the API's error."""
        event = await self._next()
        if event["type"] == CompletionError.type:
            self.ended = True
            raise ApiError(event["status"], event["code"], event["message"])
        assert event["type"] == CompletionStarted.type, event
        self.prompt_tokens = event["prompt_tokens"]

    async def abandon(self) -> None:
        """Stop listening; a job that has not ended is stopped (its client is gone): queued,
        it ends at once; running, at its next token. Either way it no longer counts among the
        person's jobs once it ends (the count is of the jobs' rows: nothing to give back).
        It runs from the stream's end and again from the response's close, and may be
        cancelled midway (a client that hangs up as the stream ends): the stop still runs."""
        try:
            await asyncio.shield(task_kept(self.listener.close()))
        finally:
            if not self.ended and not self.stop_asked:
                self.stop_asked = True
                await _job_stop(self.job)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        while not self.ended:
            event = await self._next()
            if event["type"] in (CompletionDone.type, CompletionError.type):
                self.ended = True
            yield event

    async def whole(self) -> dict[str, Any]:
        *chunks, done = [event async for event in self.events()]  # the last one ends it
        if done["type"] == CompletionError.type:
            raise ApiError(done["status"], done["code"], done["message"])
        text = "".join(chunk["delta"] for chunk in chunks)
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.asked.model_name,
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
            "model": self.asked.model_name,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        return _data(chunk)

    async def sse(self, *, include_usage: bool) -> AsyncIterator[bytes]:
        self.include_usage = include_usage
        try:
            yield self._chunk({"role": "assistant", "content": ""})
            async for event in self.events():
                # By type, as Channels hands events to a consumer: completion.chunk to
                # completion_chunk.
                yield getattr(self, get_handler_name(event))(event)
        finally:
            await self.abandon()

    def completion_chunk(self, event: dict[str, Any]) -> bytes:
        return self._chunk({"content": event["delta"]})

    def completion_done(self, event: dict[str, Any]) -> bytes:
        """The finish reason, the usage if the client asked for it, and the end."""
        ending = self._chunk({}, finish_reason=event["finish_reason"])
        if self.include_usage:
            usage = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.asked.model_name,
                "choices": [],
                "usage": _usage(event),
            }
            ending += _data(usage)
        return ending + b"data: [DONE]\n\n"

    def completion_error(self, event: dict[str, Any]) -> bytes:
        """The error in OpenAI's shape (the official client raises APIError on it); no end."""
        return _data(error_body(event["status"], event["code"], event["message"]))


async def _job_stop(job: ModelJob) -> None:
    """Stop the job of a client that left; runs to its end even if the caller is cancelled."""
    stopping = sync_to_async(job_stop)(job, by=None, reason="its client left")
    await asyncio.shield(task_kept(stopping))


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
