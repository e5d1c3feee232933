"""Running a model job, whatever its kind: one loader, one stream loop, one stop, one end.

An answer in a thread, the assistant's write into a document and an OpenAI-compatible
completion each bring a small adapter (a ``JobAdapter``: what the model reads, what to do with
each frame, how the job ends); ``model_job_run`` does the rest the same way for all of them:
loads the model (``model_for``), starts the job, streams its pieces through a ``FramePacer``
(the first frame sent at once from the decoding thread, later ones from a sender thread, in
order), polls for a stop at most every ``LLM_STOP_POLL_S``, and ends the job as done,
stopped or failed keeping its text. The next kind (a summary, an agent step) is an adapter,
not a copy.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from llm.inference import InferenceResult, ModelPrompt, PromptTooLong, decode
from llm.model import LoadedModel, model_load, model_spec_from_settings
from llm.models import LanguageModel
from llm.services import language_model_mark_unavailable, language_model_ready, language_model_spec
from llm.streaming import BackgroundCalls, FramePacer, ThrottledPoll

from .services import JobEnded

logger = logging.getLogger(__name__)


class ModelUnavailable(Exception):
    """The job's model cannot serve; the message says why, for the person who asked."""


class JobRefused(Exception):
    """The job cannot be run as asked (its prompt does not fit, say); the message says why."""


@dataclass(frozen=True)
class Frame:
    """A frame of a job's text: its number, what it adds, and the whole text so far."""

    seq: int
    delta: str
    text: str


@dataclass(frozen=True)
class Outcome:
    """How a job's decoding ended."""

    text: str
    seq: int
    stopped_by: str | None  # who stopped it, as its kind's stop check said
    result: InferenceResult

    def figures(self) -> dict[str, Any]:
        """What the job's record keeps of how it went."""
        result = self.result
        return {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "time_to_first_token_ms": result.time_to_first_token_ms,
            "tokens_per_second": result.tokens_per_second,
        }


class JobAdapter(Protocol):
    """What one kind of model job brings; ``model_job_run`` calls these in this order."""

    name: str  # for logs and thread names, e.g. "reply 12"
    model_id: int | None  # the registered model; None: the installation's default model
    frame_interval: float

    def begin(self, model: LoadedModel, *, model_name: str) -> ModelPrompt | None:
        """Build the prompt and mark the job started (conditionally) on ``model`` (as the
        installation names it); None if it ended meanwhile. Raises JobRefused when it
        cannot run."""

    def frame(self, frame: Frame) -> Callable[[], None]:
        """Take a frame on the decoding thread (in memory); return its sending, which runs
        at once for the first frame and on the sender thread, in order, for later ones."""

    def save(self, frame: Frame) -> None:
        """Save how far the job got (about once a second, on the decoding thread, before
        ``frame`` is sent): the job's heartbeat. Raises JobEnded if it was ended elsewhere."""

    def stop_requested(self) -> str | None:
        """Why the job is to stop, if it is (polled between tokens): its lifecycle's stop
        (``jobs.services.job_stop_requested``), or the kind's own reason to end early."""

    def end(self, outcome: Outcome) -> None:
        """The model is done: end the job as done, or stopped by ``outcome.stopped_by``."""

    def fail(self, *, text: str, seq: int, error: BaseException) -> None:
        """End the job as failed because of ``error``, keeping ``text``
        (``failure_reason`` words it)."""

    def leave(self) -> None:
        """Whatever happened: let go of what the job held (presence, say)."""


# What ends the process, not the job: let through, where any other BaseException fails the job.
PROCESS_EXITS = (KeyboardInterrupt, SystemExit)


def model_job_run(kind: JobAdapter) -> None:
    """Run ``kind``'s job on its model, from start to its end."""
    try:
        model, model_name = model_for(kind.model_id)
        prompt = kind.begin(model, model_name=model_name)
    except (ModelUnavailable, JobRefused, PromptTooLong) as exc:
        logger.warning("%s: %s", kind.name, exc)
        kind.fail(text="", seq=0, error=exc)
        return
    except PROCESS_EXITS:
        raise
    except BaseException as exc:  # a native panic too (see below)
        logger.exception("%s could not begin", kind.name)
        kind.fail(text="", seq=0, error=exc)
        return
    if prompt is None:
        return
    sending = BackgroundCalls(name=f"{kind.name}-frames")

    def sink(*, seq: int, delta: str, text: str, persist: bool) -> None:
        frame = Frame(seq=seq, delta=delta, text=text)
        send = kind.frame(frame)
        if persist:
            _save_unless_database_away(kind, frame)
        if seq == 1:  # handing it over would cost time to first token
            send()
        else:
            sending.submit(send)

    pacer = FramePacer(
        sink=sink,
        frame_interval=kind.frame_interval,
        persist_interval=settings.LLM_PERSIST_INTERVAL_S,
    )
    stop = ThrottledPoll(
        check=lambda: _stop_requested_unless_database_away(kind),
        interval=settings.LLM_STOP_POLL_S,
    )
    try:
        result = decode(
            model,
            prompt,
            on_piece=pacer.add,
            should_stop=lambda: stop() is not None,
            gather_s=kind.frame_interval,  # a piece per frame: the job's thread wakes less
        )
        pacer.finish()
        sending.close()  # every frame leaves before the end
        stopped_by = stop.answer if result.stopped else None
        outcome = Outcome(text=pacer.text, seq=pacer.seq, stopped_by=stopped_by, result=result)
        _once_database_is_back(partial(kind.end, outcome), name=kind.name)
    except JobEnded:
        logger.warning("%s was ended elsewhere; this attempt stops", kind.name)
    except PROCESS_EXITS:
        raise
    # Also a native library's panic (pyo3's PanicException: pycrdt's, llama-cpp's tokenizer),
    # which is a BaseException: the job must still end, as failed, its text so far kept.
    except BaseException as exc:
        logger.exception("%s failed", kind.name)
        pacer.finish()
        sending.close()
        failing = partial(kind.fail, text=pacer.text, seq=pacer.seq, error=exc)
        _once_database_is_back(failing, name=kind.name)
    finally:
        sending.close()
        kind.leave()


# A database outage as the decoding thread meets it: a server restarting or unreachable
# (OperationalError), or a connection it cut (InterfaceError).
DATABASE_AWAY = (OperationalError, InterfaceError)


def _save_unless_database_away(kind: JobAdapter, frame: Frame) -> None:
    """Save the frame; while the database is away, go on without (the frames still reach
    everyone through Redis, and the next save is tried about a second later)."""
    try:
        kind.save(frame)
    except DATABASE_AWAY as exc:
        logger.warning("%s went on without saving frame %s: %s", kind.name, frame.seq, exc)
        connection.close()  # a cut connection is never reused: the next save connects anew


def _stop_requested_unless_database_away(kind: JobAdapter) -> str | None:
    """The kind's stop check; no stop is known while the database is away."""
    try:
        return kind.stop_requested()
    except DATABASE_AWAY:
        connection.close()
        return None


def _once_database_is_back(end: Callable[[], None], *, name: str) -> None:
    """End the job, waiting out a database outage: the end is what keeps the job's whole
    text. After ``REPLY_STALE_AFTER_S`` the sweep ends the job instead, as interrupted."""
    deadline = time.monotonic() + settings.REPLY_STALE_AFTER_S
    pause = 0.1
    while True:
        try:
            end()
            return
        except DATABASE_AWAY as exc:
            connection.close()
            if time.monotonic() >= deadline:
                raise
            logger.warning("%s waits for the database to end: %s", name, exc)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def failure_reason(error: BaseException) -> str:
    """Why a job failed, for the people who see it: our own refusals as they are worded,
    anything else by its type and message."""
    if isinstance(error, ModelUnavailable | JobRefused | PromptTooLong):
        return str(error)
    return f"{type(error).__name__}: {error}"[:500]


def model_for(model_id: int | None) -> tuple[LoadedModel, str]:
    """The model ``model_id`` names (None: the default), loaded once per worker process, and
    its name (a registered copy of the default model's file shares its engine, not its name).
    A registered model whose file is missing or broken is marked unavailable (the admin shows
    why), and only its jobs fail."""
    if model_id is None:
        try:
            model = model_load(model_spec_from_settings())
            return model, model.name
        except Exception as exc:
            logger.exception("Could not load the default model")
            raise ModelUnavailable(f"The model could not be loaded ({exc}).") from exc
    registered = LanguageModel.objects.filter(pk=model_id).first()
    if registered is None:  # a model in use is protected from deletion; a race at most
        raise ModelUnavailable("The model is no longer registered.")
    # Who asked is told which model; the reason (file paths) is the admin's.
    unavailable = (
        f"The model {registered.name} is unavailable; an admin can see why on its page "
        "in the admin (Language models)."
    )
    if not language_model_ready(model=registered):
        raise ModelUnavailable(unavailable)
    try:
        return model_load(language_model_spec(registered)), registered.name
    except Exception as exc:
        logger.exception("Could not load the model %s", registered.name)
        language_model_mark_unavailable(model=registered, reason=f"It could not be loaded: {exc}")
        raise ModelUnavailable(unavailable) from exc
