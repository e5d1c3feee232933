"""A message as everyone is shown it: the one read model of a message.

The page, the socket's events, the API, its Server-Sent Events, the exports and search all
show a message through ``MessageRead``, so they cannot disagree about it: who wrote it, its
text so far, its status, an answer's model, statistics and sources, a queued answer's place.
``chat.selectors.messages_read`` builds it (the one place a streaming answer's newest text is
taken from the cache); ``to_data`` is its one serialisation (``MessageData``, the JSON every
door and every event carries), and ``from_data`` reads that back where a web process renders
an event without the database.
"""

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self, TypedDict, cast

from .citations import AnswerSource
from .mentions import PersonMention
from .models import Assistant, Generation, Message

# The model's own reasons for ending an answer (llama.cpp's finish reasons), in words.
STOP_REASON_WORDS = {
    "stop": "finished",
    "length": "hit the length limit",
}


class Statistics(TypedDict):
    """How an answer's generation went, once it has ended."""

    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    time_to_first_token_ms: float | None
    tokens_per_second: float | None


class AssistantData(TypedDict):
    """Which of the workspace's assistants speaks (the default assistant has none)."""

    id: int
    handle: str
    colour: str


class MessageData(TypedDict):
    """A message as JSON (``MessageRead.to_data``): times in ISO 8601."""

    id: int
    thread_id: int
    role: str
    author_id: int | None
    author: str  # who speaks: a username, or the assistant's name
    assistant: AssistantData | None
    body: str
    status: str
    stop_reason: str
    error: str
    in_reply_to_id: int | None
    revision: int
    last_seq: int
    queue_ahead: int | None  # queued answers: how many are served first
    model: str  # an answer the model began: which model writes it
    statistics: Statistics | None  # an answer the model ended
    sources: list[AnswerSource]  # an answer the model began: the passages it reads, numbered
    created_at: str
    finished_at: str | None  # an answer that ended
    edited_at: str | None
    deleted_at: str | None
    mentions: list[PersonMention]  # a person's message: the members it mentions, as links


_TIMES = ("created_at", "finished_at", "edited_at", "deleted_at")


@dataclass(frozen=True, kw_only=True)
class MessageRead:
    """A message as it now stands, everything a client shows of it (fields: ``MessageData``)."""

    id: int
    thread_id: int
    role: str
    author_id: int | None
    author: str
    assistant: AssistantData | None
    body: str
    status: str
    stop_reason: str
    error: str
    in_reply_to_id: int | None
    revision: int
    last_seq: int  # the frame whose text ``body`` is
    queue_ahead: int | None
    model: str
    statistics: Statistics | None
    sources: list[AnswerSource]
    created_at: datetime
    finished_at: datetime | None
    edited_at: datetime | None
    deleted_at: datetime | None
    mentions: list[PersonMention]

    @classmethod
    def from_message(cls, message: Message) -> Self:
        """``message`` as saved, with the queue place and mentions its selector resolved."""
        began = message.is_assistant and message.status != Message.Status.QUEUED
        run = message.generation_or_none if began else None
        return cls(
            id=message.pk,
            thread_id=message.thread_id,
            role=message.role,
            author_id=message.author_id,
            author=message.speaker_name,
            assistant=_assistant_data(message.assistant),
            body=message.body,
            status=message.status,
            stop_reason=message.stop_reason,
            error=message.error,
            in_reply_to_id=message.in_reply_to_id,
            revision=message.revision,
            last_seq=message.last_seq,
            queue_ahead=message.queue_ahead,
            model=run.model_name if run else "",
            statistics=_statistics(message, run),
            sources=run.sources if run else [],
            created_at=message.created_at,
            finished_at=message.finished_at,
            edited_at=message.edited_at,
            deleted_at=message.deleted_at,
            mentions=message.mentioned or [],
        )

    def to_data(self) -> MessageData:
        data: dict[str, Any] = dataclasses.asdict(self)
        for name in _TIMES:
            data[name] = data[name].isoformat() if data[name] is not None else None
        return cast(MessageData, data)

    @classmethod
    def from_data(cls, data: MessageData) -> Self:
        fields: dict[str, Any] = dict(data)
        for name in _TIMES:
            fields[name] = datetime.fromisoformat(fields[name]) if fields[name] else None
        return cls(**fields)

    def with_newest_text(self, seq: int, text: str) -> Self:
        """The message with frame ``seq``'s ``text``, if that is newer than what it has: the
        one rule for the text of a streaming answer, wherever its frames meet what was saved."""
        if seq <= self.last_seq:
            return self
        return dataclasses.replace(self, body=text, last_seq=seq)

    @property
    def is_assistant(self) -> bool:
        return self.role == Message.Role.ASSISTANT

    @property
    def is_active(self) -> bool:
        return self.status in Message.ACTIVE_STATUSES

    @property
    def can_retry(self) -> bool:
        """An ended answer to a question that still exists can be generated again."""
        return self.is_assistant and not self.is_active and self.in_reply_to_id is not None

    @property
    def stop_reason_text(self) -> str:
        """How the answer ended, in words: "finished", "hit the length limit", or the reason
        as stored when it already is words ("stopped by ana", "interrupted: ...")."""
        return STOP_REASON_WORDS.get(self.stop_reason, self.stop_reason)

    @property
    def dom_id(self) -> str:
        return f"message-{self.id}"


def _assistant_data(assistant: Assistant | None) -> AssistantData | None:
    if assistant is None:
        return None
    return {"id": assistant.pk, "handle": assistant.handle, "colour": assistant.colour}


def _statistics(message: Message, run: Generation | None) -> Statistics | None:
    if run is None or message.is_active:
        return None
    return {
        "model": run.model_name,
        "prompt_tokens": run.prompt_tokens,
        "completion_tokens": run.completion_tokens,
        "time_to_first_token_ms": run.time_to_first_token_ms,
        "tokens_per_second": run.tokens_per_second,
    }
