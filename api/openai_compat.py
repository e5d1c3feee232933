"""The OpenAI-compatible API (``/v1``): the installation's models for any tool that speaks
the OpenAI chat API, authenticated by a Roundtable token as the API key.

``POST /v1/chat/completions`` becomes a model job on the model's own queue, behind the
workspace's answers (``llm.completion_jobs``); the request follows the job's topic before it
enqueues it, waits for the worker to accept the prompt (or refuse it: over the context
window is a 400), then answers with the whole completion or streams standard chunks ending
in ``data: [DONE]``. A client that goes away cancels its job, queued or generating.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from ninja import NinjaAPI, Router, Schema
from pydantic import ConfigDict, Field, field_validator

from llm.completion_jobs import (
    CHUNK,
    DONE,
    ERROR,
    STARTED,
    CompletionJob,
    completion_job_enqueue,
    completion_stop_request,
)
from llm.model import model_spec_from_settings
from llm.models import LanguageModel
from realtime.topics import completion_topic

from .auth import TokenAuth
from .errors import ApiError, error_body, exception_handlers_install
from .streaming import TopicListener

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


def models_served() -> dict[str, tuple[int | None, int, int]]:
    """Model name -> (LanguageModel id, or None for the default; context size; created)."""
    default = model_spec_from_settings()
    served: dict[str, tuple[int | None, int, int]] = {
        default.name or default.path.stem: (None, default.n_ctx, 0)
    }
    for model in LanguageModel.objects.filter(enabled=True, available=True).order_by("name"):
        served.setdefault(model.name, (model.pk, model.n_ctx, int(model.created_at.timestamp())))
    return served


@router.get("/models", response=ModelListOut)
def model_list(request: HttpRequest) -> dict[str, Any]:
    """The models this installation serves (its default model first)."""
    return {
        "object": "list",
        "data": [
            {"id": name, "object": "model", "created": created, "owned_by": "roundtable"}
            for name, (_, _, created) in models_served().items()
        ],
    }


def _job_for(payload: ChatCompletionIn) -> CompletionJob:
    served = models_served().get(payload.model)
    if served is None:
        raise ApiError(
            404,
            "model_not_found",
            f"The model {payload.model!r} does not exist here; GET /v1/models lists them.",
            param="model",
        )
    model_id, n_ctx, _ = served
    limit = payload.answer_limit
    if limit is not None and limit >= n_ctx:
        raise ApiError(
            400,
            "context_length_exceeded",
            f"max_tokens is {limit}, but this model's whole context window is {n_ctx} tokens.",
            param="max_tokens",
        )
    stop = [payload.stop] if isinstance(payload.stop, str) else list(payload.stop or [])
    return CompletionJob(
        model_id=model_id,
        model_name=payload.model,
        messages=[message.as_prompt() for message in payload.messages],
        max_tokens=limit,
        temperature=payload.temperature,
        top_p=payload.top_p,
        stop=stop,
    )


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
    job = await sync_to_async(_job_for)(payload)
    listener = await TopicListener(completion_topic(job.id)).open()
    completion = Completion(job, listener)
    try:
        await sync_to_async(completion_job_enqueue)(job)
        await completion.accepted()
    except BaseException:
        await completion.abandon()
        raise
    if payload.stream:
        include_usage = bool(payload.stream_options and payload.stream_options.include_usage)
        response = StreamingHttpResponse(
            completion.sse(include_usage=include_usage), content_type="text/event-stream"
        )
        response["Cache-Control"] = "no-cache, no-store"
        response["X-Accel-Buffering"] = "no"
        return response
    try:
        return JsonResponse(await completion.whole())
    finally:
        await completion.abandon()


class Completion:
    """One job's events, turned into the OpenAI answer."""

    def __init__(self, job: CompletionJob, listener: TopicListener) -> None:
        self.job, self.listener = job, listener
        self.id = f"chatcmpl-{job.id}"
        self.created = int(time.time())
        self.prompt_tokens = 0
        self.ended = False

    async def _next(self) -> dict[str, Any]:
        while (event := await self.listener.next(EVENT_WAIT_S)) is None:
            pass  # still queued behind other work: keep waiting (a disconnect cancels us)
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
        """Stop listening; a job that has not ended is cancelled (its client is gone)."""
        await self.listener.close()
        if not self.ended:
            await asyncio.shield(sync_to_async(completion_stop_request)(self.job.id))

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
