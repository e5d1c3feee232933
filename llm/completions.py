"""OpenAI-compatible completions as model jobs: a job's messages in, its text out as events
(``llm.completion_jobs``). Nothing of threads: the messages are the client's own."""

import logging
from collections.abc import Callable

from django.conf import settings

from .completion_jobs import (
    CHUNK,
    DONE,
    ERROR,
    STARTED,
    CompletionJob,
    completion_job_take,
    completion_publish,
    completion_stop_requested,
)
from .inference import ModelPrompt
from .model import LoadedModel
from .model_jobs import Frame, JobRefused, ModelUnavailable, Outcome, model_job_run

logger = logging.getLogger(__name__)


def completion_generate(*, job_id: str) -> None:
    """Run the job ``job_id`` unless it is gone (run already) or its client left."""
    job = completion_job_take(job_id)
    if job is None:
        logger.info("Completion %s is gone (done already, or expired)", job_id)
        return
    if completion_stop_requested(job_id):
        logger.info("Completion %s: its client left while it waited", job_id)
        return
    model_job_run(ChatCompletion(job))


class ContextExceeded(JobRefused):
    """The messages and the answer asked for do not fit the model's context."""


class ChatCompletion:
    """An OpenAI-compatible chat completion, as a model job: its events go to its topic."""

    def __init__(self, job: CompletionJob) -> None:
        self.job = job
        self.name = f"completion-{job.id}"
        self.model_id = job.model_id
        self.frame_interval = settings.LLM_FRAME_INTERVAL_S

    def begin(self, model: LoadedModel, *, model_name: str) -> ModelPrompt:
        job = self.job
        tokens = model.messages_prompt_tokens(job.messages)
        wanted = job.max_tokens or 1
        if len(tokens) + wanted > model.n_ctx:
            asked = f" + max_tokens {job.max_tokens}" if job.max_tokens else ""
            raise ContextExceeded(
                f"This model's maximum context length is {model.n_ctx} tokens; your messages "
                f"are {len(tokens)} tokens{asked}. Shorten the messages or max_tokens."
            )
        completion_publish(job.id, STARTED, prompt_tokens=len(tokens))
        return ModelPrompt(
            tokens=tokens,
            max_tokens=job.max_tokens or model.n_ctx - len(tokens),
            temperature=job.temperature,
            top_p=job.top_p,
            stop=job.stop,
        )

    def frame(self, frame: Frame) -> Callable[[], None]:
        return lambda: completion_publish(self.job.id, CHUNK, seq=frame.seq, delta=frame.delta)

    def stop_requested(self) -> str | None:
        return "its client" if completion_stop_requested(self.job.id) else None

    def end(self, outcome: Outcome) -> None:
        result = outcome.result
        if outcome.stopped_by:
            logger.info("Completion %s cancelled: its client left", self.job.id)
        completion_publish(
            self.job.id,
            DONE,
            finish_reason="cancelled" if outcome.stopped_by else result.finish_reason,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
        )

    def fail(self, *, text: str, seq: int, error: Exception) -> None:
        """The client is told why in OpenAI's terms; what broke inside stays in the log."""
        if isinstance(error, ContextExceeded):
            status, code, message = 400, "context_length_exceeded", str(error)
        elif isinstance(error, ModelUnavailable):
            status, code = 503, "model_unavailable"
            message = f"{self.job.model_name} is unavailable."
        else:
            status, code, message = 500, "generation_failed", type(error).__name__
        completion_publish(self.job.id, ERROR, status=status, code=code, message=message)

    def leave(self) -> None:
        pass
