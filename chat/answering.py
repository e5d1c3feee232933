"""Chat's policy for an answer: what the model reads of the thread, and its instructions.

The model worker asks for it (``answer_brief``) and reports back through ``chat.replies``;
``llm`` only runs inference on what it is given.
"""

from dataclasses import dataclass

from django.conf import settings

from .models import Message


@dataclass(frozen=True)
class AnswerBrief:
    """What the assistant is asked to do for one answer in a thread."""

    system: str
    history: list[Message]  # oldest first, ending with the question
    assistant_name: str
    max_tokens: int
    temperature: float
    repeat_penalty: float

    @property
    def parameters(self) -> dict[str, float]:
        """The sampling parameters, as recorded with the answer."""
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "repeat_penalty": self.repeat_penalty,
        }


def answer_brief(reply: Message) -> AnswerBrief:
    # replace, not format: a prompt may contain other braces.
    system = settings.LLM_SYSTEM_PROMPT.replace("{name}", settings.ASSISTANT_NAME)
    return AnswerBrief(
        system=system,
        history=reply_history(reply),
        assistant_name=settings.ASSISTANT_NAME,
        max_tokens=settings.LLM_MAX_TOKENS,
        temperature=settings.LLM_TEMPERATURE,
        repeat_penalty=settings.LLM_REPEAT_PENALTY,
    )


def reply_history(reply: Message) -> list[Message]:
    """The thread up to the reply, newest last, as the model should read it: at most
    ``LLM_HISTORY_MESSAGES``, without empty ones, and without earlier answers to the same
    question (when this is a retry)."""
    messages = (
        Message.objects.filter(thread_id=reply.thread_id, id__lt=reply.pk)
        .exclude(body="")
        .exclude(role=Message.Role.ASSISTANT, in_reply_to_id=reply.in_reply_to_id)
        .select_related("author")
        .order_by("-id")[: settings.LLM_HISTORY_MESSAGES]
    )
    return list(reversed(messages))
