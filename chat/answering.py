"""Chat's policy for an answer: what the model reads of the thread, and its instructions.

The model worker asks for it (``answer_brief``) and reports back through ``chat.replies``;
``llm`` only runs inference on what it is given.

Who answers is the reply's assistant (or the installation's default, configured by the
environment); the thread's overrides, where set, take precedence over the assistant's own
instructions, temperature and answer length.
"""

from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings

from .models import Assistant, Message, Thread


@dataclass(frozen=True)
class AnswerBrief:
    """What an assistant is asked to do for one answer in a thread."""

    system: str
    history: list[Message]  # oldest first, ending with the question
    assistant: Assistant | None  # None: the installation's default assistant
    assistant_name: str
    model_id: int | None  # the assistant's ``llm.LanguageModel``; None: the default model
    max_tokens: int
    temperature: float
    repeat_penalty: float
    thread_overrides: list[str]  # which of the settings came from the thread
    knowledge: "KnowledgeScope"

    @property
    def parameters(self) -> dict[str, float]:
        """The sampling parameters, as recorded with the answer."""
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "repeat_penalty": self.repeat_penalty,
        }

    @property
    def assistant_handle(self) -> str:
        return self.assistant.handle if self.assistant else settings.ASSISTANT_NAME

    def is_own(self, message: Message) -> bool:
        """Whether ``message`` is an earlier answer of this same assistant (the model reads
        its own answers as its turns, everyone else's, other assistants' too, by name)."""
        return message.is_assistant and message.assistant_id == (
            self.assistant.pk if self.assistant else None
        )


@dataclass(frozen=True)
class KnowledgeScope:
    """What of the workspace's knowledge the answer may draw on, and what to look for."""

    workspace_id: int
    query: str  # the question: passages are retrieved for it
    source_ids: list[int] | None  # None: every source of the workspace; []: none

    @property
    def used(self) -> bool:
        return self.source_ids != [] and bool(self.query.strip())


def knowledge_scope(reply: Message) -> KnowledgeScope:
    """The thread's choice (all sources, the chosen ones, none) for ``reply``'s question."""
    thread = reply.thread
    source_ids: list[int] | None = None
    if thread.sources_use == Thread.SourcesUse.NONE:
        source_ids = []
    elif thread.sources_use == Thread.SourcesUse.SOME:
        source_ids = list(thread.chosen_sources.values_list("pk", flat=True))
    question = reply.in_reply_to.body if reply.in_reply_to else ""
    return KnowledgeScope(workspace_id=thread.workspace_id, query=question, source_ids=source_ids)


@dataclass(frozen=True)
class Instructions:
    """The settings an answer is written under, whoever chose them."""

    system_prompt: str
    temperature: float
    max_tokens: int


def answer_brief(reply: Message) -> AnswerBrief:
    assistant, thread = reply.assistant, reply.thread
    name = assistant.display_name if assistant else settings.ASSISTANT_NAME
    overrides = _thread_overrides(thread)
    chosen = instructions_in_thread(assistant, thread)
    return AnswerBrief(
        # replace, not format: a prompt may contain other braces.
        system=chosen.system_prompt.replace("{name}", name),
        history=reply_history(reply),
        assistant=assistant,
        assistant_name=name,
        model_id=assistant.model_id if assistant else None,
        max_tokens=chosen.max_tokens,
        temperature=chosen.temperature,
        repeat_penalty=settings.LLM_REPEAT_PENALTY,
        thread_overrides=sorted(overrides),
        knowledge=knowledge_scope(reply),
    )


def instructions_in_thread(assistant: Assistant | None, thread: Thread) -> Instructions:
    """What ``assistant`` (None: the default) writes under in ``thread``: its own
    instructions, temperature and length, where the thread's settings do not replace them."""
    return replace(_own_instructions(assistant), **_thread_overrides(thread))


def _own_instructions(assistant: Assistant | None) -> Instructions:
    if assistant is None:
        return Instructions(
            system_prompt=settings.LLM_SYSTEM_PROMPT,
            temperature=settings.LLM_TEMPERATURE,
            max_tokens=settings.LLM_MAX_TOKENS,
        )
    return Instructions(
        system_prompt=assistant.system_prompt or settings.LLM_SYSTEM_PROMPT,
        temperature=assistant.temperature,
        max_tokens=assistant.max_tokens,
    )


def _thread_overrides(thread: Thread) -> dict[str, Any]:
    """The thread's settings that replace the assistant's, by ``Instructions`` field."""
    overrides: dict[str, Any] = {}
    if thread.system_prompt_override:
        overrides["system_prompt"] = thread.system_prompt_override
    if thread.temperature_override is not None:
        overrides["temperature"] = thread.temperature_override
    if thread.max_tokens_override is not None:
        overrides["max_tokens"] = thread.max_tokens_override
    return overrides


def reply_history(reply: Message) -> list[Message]:
    """The thread up to the reply, newest last, as the model should read it: at most
    ``LLM_HISTORY_MESSAGES``, without empty ones, and without other answers to the same
    question (a retry's earlier attempts, or the answers of assistants asked alongside)."""
    messages = (
        Message.objects.filter(thread_id=reply.thread_id, id__lt=reply.pk)
        .exclude(body="")
        .exclude(role=Message.Role.ASSISTANT, in_reply_to_id=reply.in_reply_to_id)
        .select_related("author", "assistant")
        .order_by("-id")[: settings.LLM_HISTORY_MESSAGES]
    )
    return list(reversed(messages))
