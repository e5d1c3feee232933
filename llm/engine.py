"""One engine per loaded model: several jobs decoded together (continuous batching).

Each job (an answer, a document write, a completion) is one sequence of the model's context.
A scheduler thread owns the context; every step it builds one batch holding the next token of
every sequence that is answering, plus a slice of the prompts still being read, decodes it
once, and samples each answering sequence's next token with that job's own sampler. Jobs join
at the next step and leave as soon as they end, freeing their sequence; a long prompt is read
in slices between steps, so it never freezes the answers already streaming.

The engine knows tokens, not threads or the database: the caller brings a prompt and its
settings, reads the text pieces as they come (``EngineJob.pieces``), may stop the job at any
moment (``EngineJob.stop``), and reads its figures at the end. The model itself is behind a
``Backend`` (``llm.backends``): llama.cpp's, or a deterministic fake for tests.
"""

import codecs
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .kept_states import KeptState, KeptStates

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sampling:
    """How one job picks its tokens (llama-cpp-python's defaults where we set nothing)."""

    temperature: float = 0.7
    top_p: float = 0.95
    repeat_penalty: float = 1.0
    seed: int | None = None


@dataclass(frozen=True)
class Row:
    """One token of a batch: which sequence, where in it, and whether its logits are read."""

    seq: int
    token: int
    pos: int
    logits: bool


class Backend(Protocol):
    """What the engine needs of a model: decoding a batch, sampling, and sequences' memory."""

    n_ctx_seq: int  # tokens of context each sequence may hold
    n_batch: int  # tokens one decode may take
    slots: int  # sequences decoded together

    def decode(self, rows: Sequence[Row]) -> int:
        """Decode ``rows`` in one pass; 0 when it worked (llama_decode's codes otherwise)."""

    def sampler_new(self, sampling: Sampling, recent: Sequence[int]) -> object: ...

    def sample(self, sampler: object, index: int) -> int:
        """The next token from the logits of batch row ``index``."""

    def sampler_free(self, sampler: object) -> None: ...

    def is_end(self, token: int) -> bool: ...

    def piece(self, token: int) -> bytes: ...

    def seq_clear(self, seq: int) -> None: ...

    def seq_truncate(self, seq: int, length: int) -> bool:
        """Keep only the first ``length`` positions of ``seq``; False if it cannot."""

    def seq_state_get(self, seq: int) -> bytes: ...

    def seq_state_set(self, seq: int, data: bytes) -> bool: ...

    def close(self) -> None: ...


class EngineError(Exception):
    """The model failed this job (a decode it took part in failed)."""


@dataclass
class JobFigures:
    """What the engine saw of one job."""

    prompt_tokens: int = 0
    reused_tokens: int = 0  # read from a kept state instead of decoded
    completion_tokens: int = 0
    finish_reason: str = ""  # "stop", "length"; "" when stopped from outside
    queued_s: float = 0.0  # from submit to its first decode
    time_to_first_token_s: float | None = None  # from submit to the first piece
    decode_s: float = 0.0  # from the first piece to the end


_END = object()


class EngineJob:
    """One job's prompt and settings in; its pieces of text out, as they are decoded."""

    def __init__(
        self,
        prompt: Sequence[int],
        *,
        max_tokens: int,
        sampling: Sampling,
        stop: Sequence[str] = (),
    ) -> None:
        if not prompt:
            raise ValueError("A prompt needs at least one token.")
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1.")
        self.prompt = list(prompt)
        self.max_tokens = max_tokens
        self.sampling = sampling
        self.stop_strings = [s for s in stop if s]
        self.figures = JobFigures(prompt_tokens=len(self.prompt))
        self.error: EngineError | None = None
        self.submitted_at = time.monotonic()
        self._stop = threading.Event()
        self._out: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.ended = threading.Event()

    def stop(self) -> None:
        """End the job at the next step (or before it starts); its text so far stands."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def pieces(self, *, gather_s: float = 0.0) -> Iterator[str]:
        """The text as it is decoded; raises EngineError if the model failed the job.
        Leaving the loop early stops the job.

        The first piece comes at once; with ``gather_s``, each later one holds what was decoded
        since the one before, at most every ``gather_s``: the caller's thread wakes once per
        frame instead of once per token, leaving the cores to the model (on 2 cores, every
        wake-up pre-empts one of llama.cpp's threads).
        """
        try:
            given, ended = 0, False
            while not ended:
                item = self._out.get()
                if item is _END:
                    break
                text = str(item)
                if gather_s and given:
                    time.sleep(gather_s)
                    text, ended = self._drained(text)
                given += 1
                yield text
        finally:
            if not self.ended.is_set():
                self.stop()
        if self.error is not None:
            raise self.error

    def _drained(self, text: str) -> tuple[str, bool]:
        """``text`` and every piece waiting after it; whether the end was among them."""
        while True:
            try:
                item = self._out.get_nowait()
            except queue.Empty:
                return text, False
            if item is _END:
                return text, True
            text += str(item)

    # Called by the engine's thread.
    def _emit(self, text: str) -> None:
        if text:
            if self.figures.time_to_first_token_s is None:
                self.figures.time_to_first_token_s = time.monotonic() - self.submitted_at
            self._out.put(text)

    def _end(self, finish_reason: str, error: EngineError | None = None) -> None:
        self.figures.finish_reason = finish_reason
        if self.figures.time_to_first_token_s is not None:
            first_at = self.submitted_at + self.figures.time_to_first_token_s
            self.figures.decode_s = time.monotonic() - first_at
        self.error = error
        self.ended.set()
        self._out.put(_END)


class _TextOut:
    """Turns a job's tokens into text: whole UTF-8 characters only, and nothing of a stop
    string (text that might begin one is held back until it cannot)."""

    def __init__(self, stop_strings: Sequence[str]) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stops = list(stop_strings)
        self._held = ""

    def add(self, data: bytes) -> tuple[str, bool]:
        """The text that may be shown now, and whether a stop string was reached."""
        self._held += self._decoder.decode(data)
        for stop in self._stops:
            at = self._held.find(stop)
            if at >= 0:
                text, self._held = self._held[:at], ""
                return text, True
        keep = max((_overlap(self._held, stop) for stop in self._stops), default=0)
        text = self._held[: len(self._held) - keep]
        self._held = self._held[len(self._held) - keep :]
        return text, False

    def rest(self) -> str:
        text = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return text


def _overlap(text: str, stop: str) -> int:
    """The length of the longest end of ``text`` that begins ``stop``."""
    for length in range(min(len(text), len(stop) - 1), 0, -1):
        if stop.startswith(text[-length:]):
            return length
    return 0


@dataclass
class _Sequence:
    """A running job and where it is in its sequence of the context."""

    seq: int
    job: EngineJob
    sampler: object
    text: _TextOut
    read: int = 0  # prompt tokens in the context
    generated: list[int] = field(default_factory=list)
    decoded: int = 0  # of the generated tokens, those in the context (all but the newest)
    started_at: float | None = None

    @property
    def reading(self) -> bool:
        return self.read < len(self.job.prompt)

    @property
    def position(self) -> int:
        """Where the next decoded token goes."""
        return self.read + self.decoded

    @property
    def evaluated(self) -> list[int]:
        """The tokens this sequence's cells hold."""
        return self.job.prompt[: self.read] + self.generated[: self.decoded]


class Engine:
    """Decodes up to ``backend.slots`` jobs together on one thread of its own.

    While other sequences are answering, a step reads at most ``prompt_slice`` prompt tokens
    for each prompt still being read, the oldest first (with none answering, as much as a
    batch takes): a larger slice gives new jobs their first token sooner and costs the
    others a slower step.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        prompt_slice: int = 64,
        kept_states: KeptStates | None = None,
        name: str = "engine",
    ) -> None:
        self.backend = backend
        self.slots = backend.slots
        self.prompt_slice = max(1, prompt_slice)
        self.kept_states = kept_states if kept_states is not None else KeptStates(capacity_bytes=0)
        self._pending: deque[EngineJob] = deque()
        self._running: dict[int, _Sequence] = {}
        self._free = list(range(self.slots - 1, -1, -1))
        self._wake = threading.Condition()
        self._closing = False
        self.steps = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # Callers' side (any thread).
    def submit(self, job: EngineJob) -> EngineJob:
        """Queue ``job``; it joins the batch at the next step with a free sequence."""
        if len(job.prompt) >= self.backend.n_ctx_seq:
            raise ValueError(
                f"The prompt is {len(job.prompt)} tokens; a sequence of this model holds "
                f"{self.backend.n_ctx_seq}."
            )
        with self._wake:
            if self._closing:
                raise RuntimeError("This engine is closing: its model was replaced.")
            self._pending.append(job)
            self._wake.notify()
        return job

    def close(self) -> None:
        """Take no more jobs; the thread ends when the running and waiting ones have, and
        frees the model."""
        with self._wake:
            self._closing = True
            self._wake.notify()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    # The engine's thread.
    def _run(self) -> None:
        try:
            while self._wait_for_work():
                self._step()
        except Exception:  # a bug here must not leave callers waiting forever
            logger.exception("The engine stopped")
            for sequence in list(self._running.values()):
                self._finish(sequence, "", EngineError("The model's engine stopped."))
            with self._wake:
                waiting, self._pending = list(self._pending), deque()
            for job in waiting:
                job._end("", EngineError("The model's engine stopped."))
        finally:
            self.backend.close()

    def _wait_for_work(self) -> bool:
        with self._wake:
            while not self._running and not self._pending:
                if self._closing:
                    return False
                self._wake.wait()
            given_up = [job for job in self._pending if job.stop_requested]
            for job in given_up:
                self._pending.remove(job)
            admitted = []
            while self._pending and self._free:
                admitted.append((self._pending.popleft(), self._free.pop()))
        for job in given_up:
            job._end("")
        for job, seq in admitted:
            self._admit(job, seq)
        return True

    def _admit(self, job: EngineJob, seq: int) -> None:
        recent = job.prompt[-64:]
        sequence = _Sequence(
            seq=seq,
            job=job,
            sampler=self.backend.sampler_new(job.sampling, recent),
            text=_TextOut(job.stop_strings),
        )
        sequence.read = self._prefix_restore(seq, job.prompt)
        job.figures.reused_tokens = sequence.read
        self._running[seq] = sequence

    def _prefix_restore(self, seq: int, prompt: list[int]) -> int:
        """Put the kept state sharing the longest start with ``prompt`` into ``seq``; how many
        of its tokens need not be read again (at least the last one always is: its logits
        give the first token)."""
        self.backend.seq_clear(seq)
        state, shared = self.kept_states.best_for(prompt)
        shared = min(shared, len(prompt) - 1)
        if state is None or shared <= 0:
            return 0
        if self.backend.seq_state_set(seq, state.data) and self.backend.seq_truncate(seq, shared):
            return shared
        logger.warning("A kept state could not be restored; the prompt is read in full")
        self.backend.seq_clear(seq)
        return 0

    def _step(self) -> None:
        for sequence in [s for s in self._running.values() if s.job.stop_requested]:
            self._finish(sequence, "")
        if not self._running:
            return
        rows, reading = self._batch()
        status = self.backend.decode(rows)
        self.steps += 1
        if status != 0:
            self._decode_failed(rows, reading, status)
            return
        self._after_decode(rows, reading)

    def _batch(self) -> tuple[list[Row], dict[int, int]]:
        """One step's rows: a token for each answering sequence, then prompt slices in the
        order the jobs came; and how many prompt tokens each reading sequence gets."""
        rows = []
        answering = [s for s in self._running.values() if not s.reading]
        for sequence in answering:
            rows.append(Row(sequence.seq, sequence.generated[-1], sequence.position, logits=True))
        readers = sorted(
            (s for s in self._running.values() if s.reading), key=lambda s: s.job.submitted_at
        )
        # A slice per prompt being read: several people asking at once all get their first
        # words within a few steps, and one long prompt still takes only one slice a step.
        room = self.backend.n_batch - len(rows)
        budget = min(room, self.prompt_slice * len(readers)) if answering else room
        reading: dict[int, int] = {}
        for sequence in readers:
            if budget <= 0:
                break
            take = min(budget, len(sequence.job.prompt) - sequence.read)
            start = sequence.read
            for offset in range(take):
                position = start + offset
                last = position == len(sequence.job.prompt) - 1
                rows.append(Row(sequence.seq, sequence.job.prompt[position], position, last))
            reading[sequence.seq] = take
            budget -= take
        return rows, reading

    def _after_decode(self, rows: list[Row], reading: dict[int, int]) -> None:
        """Move each sequence past what was decoded, then sample where logits were asked."""
        for seq in dict.fromkeys(row.seq for row in rows):
            sequence = self._running[seq]
            if seq in reading:
                if sequence.started_at is None:
                    sequence.started_at = time.monotonic()
                    sequence.job.figures.queued_s = sequence.started_at - sequence.job.submitted_at
                sequence.read += reading[seq]
            else:
                sequence.decoded += 1
        for index, row in enumerate(rows):
            if row.logits:
                sequence = self._running[row.seq]
                self._sampled(sequence, self.backend.sample(sequence.sampler, index))

    def _sampled(self, sequence: _Sequence, token: int) -> None:
        job = sequence.job
        if self.backend.is_end(token):
            self._finish(sequence, "stop")
            return
        sequence.generated.append(token)
        job.figures.completion_tokens = len(sequence.generated)
        text, stopped = sequence.text.add(self.backend.piece(token))
        job._emit(text)
        if stopped:
            self._finish(sequence, "stop")
        else:
            context_full = sequence.position >= self.backend.n_ctx_seq
            if context_full or len(sequence.generated) >= job.max_tokens:
                self._finish(sequence, "length")

    def _decode_failed(self, rows: list[Row], reading: dict[int, int], status: int) -> None:
        """Find which jobs a failed decode belongs to: each sequence is decoded alone; those
        that fail alone end as failed (keeping their text), the others go on."""
        seqs = list(dict.fromkeys(row.seq for row in rows))
        logger.warning(
            "A decode of %d sequences failed (%d): each is tried alone", len(seqs), status
        )
        for seq in seqs:
            own = [row for row in rows if row.seq == seq]
            if len(seqs) > 1 and (status := self.backend.decode(own)) == 0:
                self._after_decode(own, {seq: reading[seq]} if seq in reading else {})
                continue
            error = EngineError(f"The model could not decode this answer (llama_decode {status}).")
            self._finish(self._running[seq], "", error)

    def _finish(self, sequence: _Sequence, reason: str, error: EngineError | None = None) -> None:
        job = sequence.job
        job._emit(sequence.text.rest())
        if error is None:
            self._keep(sequence)
        del self._running[sequence.seq]
        self.backend.sampler_free(sequence.sampler)
        self._free_seq(sequence.seq)
        job._end(reason, error)

    def _keep(self, sequence: _Sequence) -> None:
        """Keep what the sequence evaluated, so a follow-up reads only its new tokens."""
        if not self.kept_states.capacity_bytes or sequence.read == 0:
            return
        try:
            data = self.backend.seq_state_get(sequence.seq)
        except Exception:  # only a later answer's speed depends on it
            logger.exception("A sequence's state could not be kept")
            return
        self.kept_states.keep(KeptState(tokens=tuple(sequence.evaluated), data=data))

    def _free_seq(self, seq: int) -> None:
        self.backend.seq_clear(seq)
        with self._wake:
            self._free.append(seq)
