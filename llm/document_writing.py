"""The assistant writing into a shared document: run by the model worker, like answers.

Documents decide where the text goes and what the model reads (``documents.writing``); this
module streams the model's text into the document: each frame becomes a Yjs update, stored in
the document's log and sent to every editor, with the assistant's cursor after it.
"""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError

from documents import events, protocol
from documents.models import DocumentWrite
from documents.selectors import document_state_get
from documents.services import document_update_append
from documents.writes import (
    write_fail,
    write_finish,
    write_progress,
    write_start,
    write_stop_requested,
)
from documents.writing import CoAuthor, thread_transcript_text, write_brief

from .inference import InferenceRequest, infer
from .model import model_load, model_spec_from_settings
from .prompt import Turn
from .streaming import BackgroundCalls, FramePacer, ThrottledPoll

logger = logging.getLogger(__name__)

ASSISTANT_COLOUR = "#7c3aed"


def document_write_generate(*, write_id: int) -> None:
    """Write the queued ``write_id`` into its document; a no-op unless it is still queued."""
    write = (
        DocumentWrite.objects.select_related("document", "requested_by").filter(pk=write_id).first()
    )
    if write is None or write.status != DocumentWrite.Status.QUEUED:
        logger.info("Write %s is not queued: nothing to do", write_id)
        return
    document = write.document
    if document.deleted_at is not None:
        write_fail(write=write, written="", reason="The document was deleted.")
        return
    try:
        author = CoAuthor(
            document_state_get(document_id=document.pk), anchor=write.anchor, head=write.head
        )
        model = model_load(model_spec_from_settings())
    except Exception as exc:
        logger.exception("Write %s could not begin", write_id)
        write_fail(write=write, written="", reason=f"The write could not begin ({exc}).")
        return
    if not write_start(write=write):
        return
    pen = _Pen(write, author)
    try:
        pen.begin()
        brief = write_brief(
            instruction=write.instruction,
            requester=_name(write),
            author=author,
            thread_transcript=(
                thread_transcript_text(thread=write.source_thread) if write.source_thread else ""
            ),
        )
        stop = ThrottledPoll(
            check=lambda: write_stop_requested(write.pk), interval=settings.LLM_STOP_POLL_S
        )
        infer(
            model,
            InferenceRequest(
                system=brief.system,
                turns=[Turn(speaker=_name(write), text=brief.prompt, is_assistant=False)],
                assistant_name=settings.ASSISTANT_NAME,
                max_tokens=brief.max_tokens,
                temperature=settings.LLM_TEMPERATURE,
                repeat_penalty=settings.LLM_REPEAT_PENALTY,
            ),
            on_piece=pen.pacer.add,
            should_stop=lambda: stop() is not None or pen.refused is not None,
        )
        pen.finish()
        if pen.refused is not None:
            write_fail(write=write, written=pen.pacer.text, reason=pen.refused)
            return
        write_finish(
            write=write,
            written=pen.pacer.text,
            stopped_by_id=int(stop.answer) if stop.answer is not None else None,
        )
    except Exception as exc:
        logger.exception("Write %s failed", write_id)
        write_fail(write=write, written=pen.pacer.text, reason=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        pen.leave()


class _Pen:
    """Each frame of text into the document, as an update of the assistant's own client."""

    def __init__(self, write: DocumentWrite, author: CoAuthor) -> None:
        self.write, self.author = write, author
        self.pacer = FramePacer(
            sink=self._frame,
            frame_interval=settings.DOCUMENT_WRITE_FRAME_INTERVAL_S,
            persist_interval=settings.LLM_PERSIST_INTERVAL_S,
        )
        # Storing and publishing each frame (a commit, two publishes) overlaps decoding on a
        # thread of its own, in order, as an answer's frames do (llm.streaming.BackgroundCalls).
        self.sending = BackgroundCalls(name=f"write-{write.pk}-frames")
        self.refused: str | None = None  # why the document took no more (it is full, say)
        self._presence_clock = 0

    def begin(self) -> None:
        if (update := self.author.opening_update()) is not None:
            self._append(update)
        self._present({"user": self._identity(), "cursor": self._cursor()})

    def _frame(self, *, seq: int, delta: str, text: str, persist: bool) -> None:
        update, cursor = self.author.write(delta), self._cursor()
        self.sending.submit(lambda: self._send(update, cursor))
        if persist:
            self.sending.submit(lambda: write_progress(write=self.write, written=text))

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

    def finish(self) -> None:
        """Every frame stored and sent: call before the write's final status."""
        self.pacer.finish()
        self.sending.close()

    def leave(self) -> None:
        self.sending.close()
        self._present(None)

    def _append(self, update: bytes) -> None:
        document_update_append(
            document_id=self.write.document_id, update=update, author=None, sender=events.SERVER
        )

    def _cursor(self) -> dict[str, object]:
        position = self.author.cursor_json()
        return {"anchor": position, "head": position}

    def _identity(self) -> dict[str, str]:
        return {"name": settings.ASSISTANT_NAME, "color": ASSISTANT_COLOUR}

    def _present(self, state: dict[str, object] | None) -> None:
        self._presence_clock += 1
        entry = protocol.Presence(self.author.client_id, self._presence_clock, state)
        events.document_publish(
            self.write.document_id,
            events.PRESENCE,
            presence=protocol.awareness_write([entry]),
            sender=events.SERVER,
        )


def _name(write: DocumentWrite) -> str:
    person = write.requested_by
    return (person.get_full_name() or person.get_username()) if person else "A member"
