"""A catch-up as a model job: the messages a person missed, numbered, in; a summary that cites
them by number, out, run by the model worker like answers and writes (``jobs.runner``).

The model writes as the thread's answerer, under the thread's settings (its instructions,
temperature and length, ``chat.answering.instructions_in_thread``), on that assistant's
model. The newest missed messages that fit the context are numbered from 1; which message
each number names is recorded before the first token, so the server links the summary's
``[n]`` to those messages only.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import Http404

from chat.answering import instructions_in_thread
from chat.models import Message
from chat.selectors import thread_get_for_member
from jobs.runner import Frame, JobRefused, Outcome, failure_reason, model_job_run
from jobs.services import job_stop_requested
from llm.inference import InferenceRequest, ModelPrompt, request_prompt
from llm.model import LoadedModel
from llm.prompt import Turn

from .catch_ups import (
    catch_up_fail,
    catch_up_finish,
    catch_up_progress,
    catch_up_start,
    given_record,
)
from .events import catch_up_frame_publish
from .grounding import ContextWindow
from .models import CatchUp
from .selectors import missed_messages

logger = logging.getLogger(__name__)

# A message longer than this is cut: a summary needs its gist, and the others need room.
MESSAGE_CHARS_MAX = 2000
# Tokens left over for the prompt format's own (roles, separators).
FORMAT_ROOM = 64


def catch_up_generate(*, catch_up_id: int) -> None:
    """Write the queued catch-up ``catch_up_id``; a no-op unless it is still queued."""
    catch_up = (
        CatchUp.objects.select_related("thread", "requested_by", "job", "assistant")
        .filter(pk=catch_up_id)
        .first()
    )
    if catch_up is None or catch_up.job.status != catch_up.job.Status.QUEUED:
        logger.info("Catch-up %s is not queued: nothing to do", catch_up_id)
        return
    model_job_run(CatchUpWriting(catch_up))


class CatchUpWriting:
    """A person's catch-up, as a model job: each frame the whole summary so far, to them."""

    def __init__(self, catch_up: CatchUp) -> None:
        self.catch_up = catch_up
        self.name = f"catch-up-{catch_up.pk}"
        self.model_id = catch_up.job.model_id
        self.frame_interval = settings.LLM_FRAME_INTERVAL_S

    def begin(self, model: LoadedModel, *, model_name: str) -> ModelPrompt | None:
        catch_up, person = self.catch_up, self.catch_up.requested_by
        try:  # access may have ended while it waited
            thread = thread_get_for_member(user=person, thread_id=catch_up.thread_id)
        except Http404:
            raise JobRefused("You are no longer a member of this thread's workspace.") from None
        chosen = instructions_in_thread(catch_up.assistant, thread)
        system = chosen.system_prompt.replace("{name}", catch_up.assistant_name)
        answer_room = min(chosen.max_tokens, model.n_ctx // 2)
        room = model.n_ctx - answer_room - FORMAT_ROOM
        room -= model.token_count(system + catch_up_instruction(numbered=""))
        missed = missed_messages(thread=thread, reader=person, after=catch_up.after_message_id)
        if not missed:  # deleted while it waited
            raise JobRefused("There is nothing to catch up on any more.")
        given = messages_that_fit(missed, model, room=room)
        if not given:
            raise JobRefused("The messages you missed do not fit this model's context.")
        if not catch_up_start(catch_up=catch_up, given=given_record(given)):
            return None
        return request_prompt(
            model,
            InferenceRequest(
                system=system,
                turns=[
                    Turn(
                        speaker=person.get_username(),
                        text=catch_up_instruction(numbered=numbered_block(given)),
                        is_assistant=False,
                    )
                ],
                assistant_name=catch_up.assistant_name,
                max_tokens=chosen.max_tokens,
                temperature=chosen.temperature,
                repeat_penalty=settings.LLM_REPEAT_PENALTY,
            ),
        )

    def frame(self, frame: Frame) -> Callable[[], None]:
        return lambda: catch_up_frame_publish(self.catch_up.pk, seq=frame.seq, text=frame.text)

    def save(self, frame: Frame) -> None:
        catch_up_progress(catch_up=self.catch_up, text=frame.text, seq=frame.seq)

    def stop_requested(self) -> str | None:
        return job_stop_requested(self.catch_up.job_id)

    def end(self, outcome: Outcome) -> None:
        catch_up_finish(
            catch_up=self.catch_up, text=outcome.text, seq=outcome.seq, figures=outcome.figures()
        )

    def fail(self, *, text: str, seq: int, error: BaseException) -> None:
        catch_up_fail(catch_up=self.catch_up, text=text, seq=seq, reason=failure_reason(error))

    def leave(self) -> None:
        pass


def numbered_line(number: int, message: Message) -> str:
    body = " ".join(message.body.split())[:MESSAGE_CHARS_MAX]
    return f"[{number}] {message.speaker_name}: {body}"


def numbered_block(messages: list[Message]) -> str:
    return "\n".join(numbered_line(n, message) for n, message in enumerate(messages, start=1))


def messages_that_fit(messages: list[Message], model: ContextWindow, *, room: int) -> list[Message]:
    """The newest of ``messages`` whose numbered lines fit ``room`` tokens together, oldest
    first (numbers do not change a line's length much: counted as the longest, the last's)."""
    kept: list[Message] = []
    used = 0
    widest = len(messages)
    for message in reversed(messages):
        cost = model.token_count(numbered_line(widest, message) + "\n")
        if used + cost > room:
            break
        kept.append(message)
        used += cost
    return kept[::-1]


def catch_up_instruction(*, numbered: str) -> str:
    """What the person asks the model (their name is the turn's), with the missed messages
    numbered."""
    return (
        f"These messages were posted in this thread while I was away, numbered:\n\n{numbered}"
        "\n\nSummarise what I missed in a few short bullet points, the most important first. "
        "End each point with the numbers of the messages it comes from in square brackets, "
        "like [2]. Cite only the numbers above."
    )
