"""Answers in threads: the model job's adapter between chat and the model, run by the worker.

Chat decides what the model reads and how the answer ends (``chat.answering``,
``chat.replies``); ``jobs.runner`` runs it like every other kind of model job.
"""

import logging
from collections.abc import Callable

from django.conf import settings

from chat.answering import AnswerBrief, answer_brief
from chat.models import Message
from chat.replies import (
    reply_fail,
    reply_finish,
    reply_frame_send,
    reply_progress_record,
    reply_progress_save,
    reply_start,
)
from jobs.runner import Frame, Outcome, failure_reason, model_job_run
from jobs.services import job_move, job_stop_requested
from llm.first_token_steps import FirstTokenSteps
from llm.inference import InferenceRequest, ModelPrompt, request_prompt
from llm.model import LoadedModel
from llm.prompt import Turn
from llm.routing import job_belongs_here, model_queue

from .grounding import answer_sources, passages_for, sources_block

logger = logging.getLogger(__name__)


def reply_generate(*, reply_id: int) -> None:
    """Generate the queued assistant message ``reply_id``; a no-op unless it is still queued."""
    steps = FirstTokenSteps()
    reply = Message.objects.select_related("thread", "job").filter(pk=reply_id).first()
    if reply is None:
        logger.info("Reply %s no longer exists: nothing to do", reply_id)
        return
    if reply.status != Message.Status.QUEUED:
        logger.info("Reply %s is %s, not queued: nothing to do", reply_id, reply.status)
        return
    if reply.job is None:  # made by hand: nothing queued it
        logger.warning("Reply %s has no model job: nothing to do", reply_id)
        return
    steps.queued_since(reply.created_at.timestamp())
    brief = answer_brief(reply)
    queue = model_queue(brief.model_id)
    if not job_belongs_here(queue):
        logger.info("Reply %s is for the model of queue %s: sent there", reply_id, queue)
        job_move(reply.job, model_id=brief.model_id)
        return
    steps.lap("brief")
    model_job_run(Answer(reply, brief, steps))


class Answer:
    """An assistant's answer in a thread, as a model job."""

    def __init__(self, reply: Message, brief: AnswerBrief, steps: FirstTokenSteps) -> None:
        self.reply, self.brief, self.steps = reply, brief, steps
        self.name = f"reply-{reply.pk}"
        self.model_id = brief.model_id
        self.frame_interval = settings.LLM_FRAME_INTERVAL_S

    def begin(self, model: LoadedModel, *, model_name: str) -> ModelPrompt | None:
        self.steps.lap("model")
        passages = passages_for(self.brief.knowledge, model)
        self.steps.lap("retrieval")
        started = reply_start(
            reply=self.reply,
            brief=self.brief,
            model_name=model_name,
            parameters={**self.brief.parameters, "n_ctx": model.n_ctx},
            sources=answer_sources(passages),
        )
        if not started:
            return None
        self.steps.lap("start")
        prompt = request_prompt(
            model, inference_request(self.brief, context=sources_block(passages))
        )
        self.steps.lap("prompt")
        return prompt

    def frame(self, frame: Frame) -> Callable[[], None]:
        if frame.seq == 1:
            self.steps.lap("model_first_token")
        snapshot = reply_progress_record(reply=self.reply, text=frame.text, seq=frame.seq)

        def send() -> None:
            reply_frame_send(frame=snapshot, delta=frame.delta)
            if frame.seq == 1:  # sent at once, from this thread
                self.steps.lap("first_frame")

        return send

    def save(self, frame: Frame) -> None:
        reply_progress_save(reply=self.reply)

    def stop_requested(self) -> str | None:
        return job_stop_requested(self.reply.job_id)

    def end(self, outcome: Outcome) -> None:
        reply_finish(
            reply=self.reply,
            text=outcome.text,
            seq=outcome.seq,
            finish_reason=outcome.result.finish_reason,
            figures={
                **outcome.figures(),  # type: ignore[typeddict-item]
                "first_token_steps_ms": self.steps.as_recorded(),
            },
        )

    def fail(self, *, text: str, seq: int, error: BaseException) -> None:
        reply_fail(reply=self.reply, text=text, seq=seq, reason=failure_reason(error))

    def leave(self) -> None:
        pass


def inference_request(brief: AnswerBrief, *, context: str = "") -> InferenceRequest:
    """Chat's brief as inference reads it: each message a turn, named by its speaker, and
    ``context`` (the sources) after the question."""
    turns = [
        Turn(speaker=message.speaker_name, text=message.body, is_assistant=brief.is_own(message))
        for message in brief.history
    ]
    return InferenceRequest(
        system=brief.system,
        turns=turns,
        assistant_name=brief.assistant_name,
        max_tokens=brief.max_tokens,
        temperature=brief.temperature,
        repeat_penalty=brief.repeat_penalty,
        context=context,
    )
