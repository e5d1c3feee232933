"""Answers in threads: the thin adapter between chat and inference, run by the model worker.

Chat decides what the model reads and how the answer ends (``chat.answering``,
``chat.replies``); inference turns a conversation into text (``llm.inference``). This module
connects them: it paces the text into frames, polls for a member's stop, and reports back.
"""

import logging
import time

from django.conf import settings

from chat.answering import AnswerBrief, answer_brief
from chat.models import Message
from chat.replies import (
    ReplyNoLongerStreaming,
    reply_fail,
    reply_finish,
    reply_frame_send,
    reply_progress_record,
    reply_start,
)
from chat.streaming_state import stop_request_get
from workspace.celery import app as celery_app

from .grounding import answer_sources, passages_for, sources_block
from .inference import InferenceRequest, infer
from .model import LoadedModel, model_load, model_spec_from_settings
from .models import LanguageModel
from .prompt import Turn
from .routing import GENERATE_REPLY_TASK, job_belongs_here, model_queue
from .services import language_model_mark_unavailable, language_model_ready, language_model_spec
from .streaming import BackgroundCalls, FramePacer, ThrottledPoll

logger = logging.getLogger(__name__)


def reply_generate(*, reply_id: int) -> None:
    """Generate the queued assistant message ``reply_id``; a no-op unless it is still queued."""
    steps = FirstTokenSteps()
    reply = Message.objects.select_related("thread").filter(pk=reply_id).first()
    if reply is None:
        logger.info("Reply %s no longer exists: nothing to do", reply_id)
        return
    if reply.status != Message.Status.QUEUED:
        logger.info("Reply %s is %s, not queued: nothing to do", reply_id, reply.status)
        return
    steps.queued_since(reply.created_at.timestamp())
    brief = answer_brief(reply)
    queue = model_queue(brief.model_id)
    if not job_belongs_here(queue):
        logger.info("Reply %s is for the model of queue %s: sent there", reply_id, queue)
        celery_app.send_task(GENERATE_REPLY_TASK, args=[reply_id])
        return
    steps.lap("brief")
    try:
        model = _model_for(brief)
    except ModelUnavailable as exc:
        logger.warning("Reply %s: %s", reply_id, exc)
        reply_fail(reply=reply, text="", seq=0, reason=str(exc))
        return
    steps.lap("model")
    parameters = {**brief.parameters, "n_ctx": model.n_ctx}
    passages = passages_for(brief.knowledge, model)
    steps.lap("retrieval")
    if not reply_start(
        reply=reply,
        brief=brief,
        model_name=model.name,
        parameters=parameters,
        sources=answer_sources(passages),
    ):
        return
    steps.lap("start")
    sending = BackgroundCalls(name=f"reply-{reply_id}-frames")

    def frame(*, seq: int, delta: str, text: str, persist: bool) -> None:
        # Saved here, in order and in this thread's transaction. The first frame is also sent
        # from here: handing it over would cost time to first token (GIL hand-offs, 5-8 ms).
        if seq == 1:
            steps.lap("first_piece")
        snapshot = reply_progress_record(reply=reply, text=text, seq=seq, persist=persist)
        if seq == 1:
            reply_frame_send(frame=snapshot, delta=delta)
            steps.lap("first_frame")
        else:
            sending.submit(lambda: reply_frame_send(frame=snapshot, delta=delta))

    pacer = FramePacer(
        sink=frame,
        frame_interval=settings.LLM_FRAME_INTERVAL_S,
        persist_interval=settings.LLM_PERSIST_INTERVAL_S,
    )
    try:
        request = inference_request(brief, context=sources_block(passages))
        _answer(pacer, sending, reply=reply, request=request, model=model, steps=steps)
    except ReplyNoLongerStreaming:
        logger.warning("Reply %s was ended elsewhere; this attempt stops", reply_id)
    except Exception as exc:
        logger.exception("Generation failed for reply %s", reply_id)
        pacer.finish()
        sending.close()
        reply_fail(reply=reply, text=pacer.text, seq=pacer.seq, reason=_reason(exc))
    finally:
        sending.close()


class FirstTokenSteps:
    """Where the time before an answer's first frame went, step by step, in milliseconds
    (recorded on its ``Generation``; the benchmark's ``ttft_breakdown_ms`` reads them).

    ``queue``: from the reply's row being written (the web process) to this worker starting
    it: the commit, what runs on commit (broadcasts, routing), the broker. It compares two
    machines' clocks where the web and the worker run apart. The rest is this process's
    ``perf_counter``, each step from the end of the one before.
    """

    def __init__(self) -> None:
        self.began_at = time.time()
        self._last = time.perf_counter()
        self.steps: dict[str, float] = {}

    def queued_since(self, written_at: float) -> None:
        self.steps["queue"] = max(0.0, (self.began_at - written_at) * 1000)

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.steps[step] = (now - self._last) * 1000
        self._last = now

    def as_recorded(self, *, model_first_token_ms: float | None) -> dict[str, float]:
        """The steps, rounded; ``first_piece`` (after the start, to the model's first text) is
        split into ``prompt`` (the prompt built and fitted) and ``model_first_token`` (llama.cpp
        reading the prompt and choosing the first token), as inference measured it."""
        steps = dict(self.steps)
        first_piece = steps.pop("first_piece", None)
        if first_piece is not None and model_first_token_ms is not None:
            model_ms = min(model_first_token_ms, first_piece)
            steps["prompt"] = first_piece - model_ms
            steps["model_first_token"] = model_ms
        return {step: round(steps[step], 2) for step in FIRST_TOKEN_STEPS if step in steps}


# The steps before an answer's first frame, in the order they run.
FIRST_TOKEN_STEPS = (
    "queue",
    "brief",
    "model",
    "retrieval",
    "start",
    "prompt",
    "model_first_token",
    "first_frame",
)


class ModelUnavailable(Exception):
    """The answer's model cannot serve; the message says why, for the people in the thread."""


def _model_for(brief: AnswerBrief) -> LoadedModel:
    """The assistant's model, loaded once per worker process. A registered model whose file
    is missing or broken is marked unavailable (the admin shows why), and only its answers fail."""
    if brief.model_id is None:
        try:
            return model_load(model_spec_from_settings())
        except Exception as exc:
            logger.exception("Could not load the default model")
            raise ModelUnavailable(f"The model could not be loaded ({exc}).") from exc
    registered = LanguageModel.objects.filter(pk=brief.model_id).first()
    if registered is None:  # the assistant's model is protected from deletion; a race at most
        raise ModelUnavailable("The assistant's model is no longer registered.")
    # The people in the thread are told which model; the reason (file paths) is the admin's.
    unavailable = (
        f"The model {registered.name} is unavailable; an admin can see why on its page "
        "in the admin (Language models)."
    )
    if not language_model_ready(model=registered):
        raise ModelUnavailable(unavailable)
    try:
        return model_load(language_model_spec(registered))
    except Exception as exc:
        logger.exception("Could not load the model %s", registered.name)
        language_model_mark_unavailable(model=registered, reason=f"It could not be loaded: {exc}")
        raise ModelUnavailable(unavailable) from exc


def _answer(
    pacer: FramePacer,
    sending: BackgroundCalls,
    *,
    reply: Message,
    request: InferenceRequest,
    model: LoadedModel,
    steps: "FirstTokenSteps",
) -> None:
    stop_requested = ThrottledPoll(
        check=lambda: stop_request_get(reply.pk), interval=settings.LLM_STOP_POLL_S
    )
    result = infer(
        model,
        request,
        on_piece=pacer.add,
        should_stop=lambda: stop_requested() is not None,
    )
    pacer.finish()
    sending.close()  # every frame leaves before the final status
    reply_finish(
        reply=reply,
        text=pacer.text,
        seq=pacer.seq,
        stopped_by=stop_requested.answer if result.stopped else None,
        finish_reason=result.finish_reason,
        figures={
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "time_to_first_token_ms": result.time_to_first_token_ms,
            "tokens_per_second": result.tokens_per_second,
            "first_token_steps_ms": steps.as_recorded(
                model_first_token_ms=result.time_to_first_token_ms
            ),
        },
    )


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


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
