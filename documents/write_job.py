"""The assistant writing into a shared document: a model job, run by the worker like answers.

Documents decide where the text goes and what the model reads (``documents.writing``); this
adapter turns each frame of the model's text into a Yjs update, stored in the document's log
and sent to every editor, with the assistant's cursor after it.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError

from jobs.runner import Frame, JobRefused, Outcome, failure_reason, model_job_run
from jobs.services import job_stop_requested
from llm.inference import InferenceRequest, ModelPrompt, request_prompt
from llm.model import LoadedModel
from llm.prompt import Turn

from . import events, protocol
from .models import DocumentWrite
from .presence import AssistantClient
from .selectors import document_state_get
from .services import document_update_append
from .writes import write_fail, write_finish, write_progress, write_start
from .writing import CoAuthor, thread_transcript_text, write_brief

logger = logging.getLogger(__name__)

ASSISTANT_COLOUR = "#7c3aed"


def document_write_generate(*, write_id: int) -> None:
    """Write the queued ``write_id`` into its document; a no-op unless it is still queued."""
    write = (
        DocumentWrite.objects.select_related("document", "requested_by", "job")
        .filter(pk=write_id)
        .first()
    )
    if write is None or write.status != DocumentWrite.Status.QUEUED:
        logger.info("Write %s is not queued: nothing to do", write_id)
        return
    model_job_run(DocumentWriting(write))


class DocumentWriting:
    """The assistant's write into a document, as a model job: each frame an update of the
    assistant's own Yjs client."""

    model_id: int | None = None  # writes use the installation's default model

    def __init__(self, write: DocumentWrite) -> None:
        self.write = write
        self.name = f"write-{write.pk}"
        self.frame_interval = settings.DOCUMENT_WRITE_FRAME_INTERVAL_S
        self.author: CoAuthor | None = None
        self.refused: str | None = None  # why the document took no more (it is full, say)
        self._presence_clock = 0
        self._client: AssistantClient | None = None  # the assistant's cursor, once held

    def begin(self, model: LoadedModel, *, model_name: str) -> ModelPrompt | None:
        write, document = self.write, self.write.document
        if document.deleted_at is not None:
            raise JobRefused("The document was deleted.")
        try:
            self.author = CoAuthor(
                document_state_get(document_id=document.pk), anchor=write.anchor, head=write.head
            )
        except Exception as exc:
            logger.exception("Write %s could not begin", write.pk)
            raise JobRefused(f"The write could not begin ({exc}).") from exc
        if not write_start(write=write):
            return None
        self._client = AssistantClient(
            document_id=document.pk, client_id=self.author.client_id, write_id=write.pk
        )
        if (update := self.author.opening_update()) is not None:
            self._append(update)
        self._present({"user": self._identity(), "cursor": self._cursor()})
        brief = write_brief(
            instruction=write.instruction,
            requester=self._requester(),
            author=self.author,
            thread_transcript=(
                thread_transcript_text(thread=write.source_thread) if write.source_thread else ""
            ),
        )
        return request_prompt(
            model,
            InferenceRequest(
                system=brief.system,
                turns=[Turn(speaker=self._requester(), text=brief.prompt, is_assistant=False)],
                assistant_name=settings.ASSISTANT_NAME,
                max_tokens=brief.max_tokens,
                temperature=settings.LLM_TEMPERATURE,
                repeat_penalty=settings.LLM_REPEAT_PENALTY,
            ),
        )

    def frame(self, frame: Frame) -> Callable[[], None]:
        assert self.author is not None
        update, cursor = self.author.write(frame.delta), self._cursor()
        return lambda: self._send(update, cursor)

    def save(self, frame: Frame) -> None:
        write_progress(write=self.write, written=frame.text, seq=frame.seq)

    def stop_requested(self) -> str | None:
        if self.refused is not None:  # the document took no more: the write ends
            return self.refused
        return job_stop_requested(self.write.job_id)

    def end(self, outcome: Outcome) -> None:
        if self.refused is not None:
            write_fail(write=self.write, written=outcome.text, reason=self.refused)
            return
        write_finish(
            write=self.write, written=outcome.text, seq=outcome.seq, figures=outcome.figures()
        )

    def fail(self, *, text: str, seq: int, error: BaseException) -> None:
        write_fail(write=self.write, written=text, reason=failure_reason(error))

    def leave(self) -> None:
        if self._presence_clock:  # it was shown: it leaves
            self._present(None)
        if self._client is not None:
            self._client.let_go()

    def _send(self, update: bytes, cursor: dict[str, object]) -> None:
        if self.refused is not None:
            return
        try:
            self._append(update)
        except ValidationError as exc:
            self.refused = " ".join(exc.messages)
            return
        except Exception as exc:  # the document is gone (deleted for good), the database away
            logger.warning("Write %s: a frame could not be kept (%s)", self.write.pk, exc)
            self.refused = "The document could not take the assistant's text any more."
            return
        self._present({"user": self._identity(), "cursor": cursor})

    def _append(self, update: bytes) -> None:
        document_update_append(
            document_id=self.write.document_id, update=update, author=None, sender=events.SERVER
        )

    def _cursor(self) -> dict[str, object]:
        assert self.author is not None
        position = self.author.cursor_json()
        return {"anchor": position, "head": position}

    def _identity(self) -> dict[str, str]:
        return {"name": settings.ASSISTANT_NAME, "color": ASSISTANT_COLOUR}

    def _present(self, state: dict[str, object] | None) -> None:
        """Show the assistant's cursor (``state``), or that it left (None), while its client
        is held for it."""
        assert self.author is not None
        assert self._client is not None
        if state is not None and not self._client.hold():
            return
        self._presence_clock += 1
        entry = protocol.Presence(self.author.client_id, self._presence_clock, state)
        presence = protocol.awareness_write([entry])
        events.document_publish(
            self.write.document_id, events.PresenceSaid(presence=presence, sender=events.SERVER)
        )

    def _requester(self) -> str:
        person = self.write.requested_by
        return (person.get_full_name() or person.get_username()) if person else "A member"
