"""What the engine decodes with: llama.cpp's context, or a deterministic stand-in for tests.

Both give the engine (``llm.engine``) the same ``Backend``, and the loaded model
(``llm.model``) the same ``Vocabulary``: tokens in and out, the chat template, its end
token. ``LLM_BACKEND=fake`` makes workers and tests run the real engine and job lifecycle
without llama.cpp, at a pace of ``LLM_FAKE_STEP_S`` per step; the real model stays in the
tests whose subject is the model.
"""

import array
import ctypes
import random
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .engine import Row, Sampling

if TYPE_CHECKING:
    from llama_cpp import Llama

# llama-cpp-python's defaults for what the app does not set.
TOP_K = 40
MIN_P = 0.05
PENALTY_LAST_N = 64


class Vocabulary(Protocol):
    """A model's tokenizer and what its file says of chats."""

    chat_template: str | None
    bos_text: str
    eos_text: str

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]: ...

    def text(self, tokens: Sequence[int]) -> str:
        """What ``tokens`` say, special tokens included."""


class LlamaBackend:
    """One llama.cpp context for ``slots`` sequences of ``n_ctx_seq`` tokens each, on the
    weights ``llama`` loaded (``Llama`` keeps the model, its tokenizer and template)."""

    def __init__(
        self,
        llama: "Llama",
        *,
        n_ctx_seq: int,
        slots: int,
        n_batch: int,
        n_threads: int,
        gpu: bool = False,
    ) -> None:
        import llama_cpp

        self._lib = llama_cpp
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx_seq * slots
        params.n_batch = n_batch
        params.n_ubatch = min(n_batch, 512)
        params.n_seq_max = slots
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        # One buffer for all sequences: on CPU, separate ones made a step of 2 sequences 4 to
        # 6 times slower than of 1 (bench/README.md). The engine keeps each sequence within
        # its n_ctx_seq, so together they never need more than the buffer holds.
        params.kv_unified = True
        params.swa_full = True  # so a kept prefix can be cut back on sliding-window models
        # Flash attention as plain llama-cpp-python has it on a CPU (off: on for CPU made a
        # 1,300-token thread decode at 0.6-0.8 of plain's speed); llama.cpp decides on a GPU.
        params.flash_attn_type = (
            llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO
            if gpu
            else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        self._llama = llama  # the weights must outlive the context
        self.ctx = llama_cpp.llama_init_from_model(llama.model, params)
        if not self.ctx:
            raise RuntimeError(f"llama.cpp could not make a context for {slots} sequences.")
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.slots = slots
        self.n_ctx_seq = n_ctx_seq
        self.n_batch = n_batch
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._pieces: dict[int, bytes] = {}

    def decode(self, rows: Sequence[Row]) -> int:
        batch = self.batch
        batch.n_tokens = len(rows)
        for i, row in enumerate(rows):
            batch.token[i] = row.token
            batch.pos[i] = row.pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = row.seq
            batch.logits[i] = row.logits
        return int(self._lib.llama_decode(self.ctx, batch))

    def sampler_new(self, sampling: Sampling, recent: Sequence[int]) -> object:
        lib = self._lib
        chain = lib.llama_sampler_chain_init(lib.llama_sampler_chain_default_params())
        if sampling.repeat_penalty != 1.0:
            lib.llama_sampler_chain_add(
                chain,
                lib.llama_sampler_init_penalties(
                    self.n_vocab, PENALTY_LAST_N, sampling.repeat_penalty, 0.0, 0.0
                ),
            )
        if sampling.temperature <= 0:
            lib.llama_sampler_chain_add(chain, lib.llama_sampler_init_greedy())
        else:
            seed = sampling.seed if sampling.seed is not None else random.getrandbits(32)
            for sampler in (
                lib.llama_sampler_init_top_k(TOP_K),
                lib.llama_sampler_init_top_p(sampling.top_p, 1),
                lib.llama_sampler_init_min_p(MIN_P, 1),
                lib.llama_sampler_init_temp(sampling.temperature),
                lib.llama_sampler_init_dist(seed),
            ):
                lib.llama_sampler_chain_add(chain, sampler)
        for token in recent:  # the penalty counts what the prompt already said
            lib.llama_sampler_accept(chain, token)
        return chain

    def sample(self, sampler: object, index: int) -> int:
        return int(self._lib.llama_sampler_sample(sampler, self.ctx, index))

    def sampler_free(self, sampler: object) -> None:
        self._lib.llama_sampler_free(sampler)

    def is_end(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self.vocab, token))

    def piece(self, token: int) -> bytes:
        if (known := self._pieces.get(token)) is None:
            buffer = ctypes.create_string_buffer(64)
            length = self._lib.llama_token_to_piece(self.vocab, token, buffer, 64, 0, False)
            if length < 0:
                buffer = ctypes.create_string_buffer(-length)
                length = self._lib.llama_token_to_piece(
                    self.vocab, token, buffer, -length, 0, False
                )
            known = self._pieces[token] = buffer.raw[:length]
        return known

    def seq_clear(self, seq: int) -> None:
        self._lib.llama_memory_seq_rm(self.memory, seq, -1, -1)

    def seq_truncate(self, seq: int, length: int) -> bool:
        return bool(self._lib.llama_memory_seq_rm(self.memory, seq, length, -1))

    def seq_state_get(self, seq: int) -> bytes:
        size = self._lib.llama_state_seq_get_size(self.ctx, seq)
        buffer = (ctypes.c_uint8 * size)()
        written = self._lib.llama_state_seq_get_data(self.ctx, buffer, size, seq)
        return ctypes.string_at(buffer, written)

    def seq_state_set(self, seq: int, data: bytes) -> bool:
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        return bool(self._lib.llama_state_seq_set_data(self.ctx, buffer, len(data), seq))

    def close(self) -> None:
        if self.ctx:
            self._lib.llama_batch_free(self.batch)
            self._lib.llama_free(self.ctx)
            self.ctx = None


class LlamaVocabulary:
    """The tokenizer and chat template of the GGUF ``llama`` loaded."""

    def __init__(self, llama: "Llama") -> None:
        self._llama = llama
        self.chat_template: str | None = llama.metadata.get("tokenizer.chat_template") or None
        self.bos_text = self._text(llama.token_bos())
        self.eos_text = self._text(llama.token_eos())

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        return self._llama.tokenize(text.encode(), add_bos=add_bos, special=special)

    def text(self, tokens: Sequence[int]) -> str:
        return self._llama.detokenize(list(tokens), special=True).decode("utf-8", errors="ignore")

    def _text(self, token: int) -> str:
        return self.text([token]) if token >= 0 else ""


# The stand-in: a byte is a token; answers are numbered words.
FAKE_END = 256
FAKE_WORDS = 257  # tokens from here on are the words " w1", " w2", ...
RECORDED = 100  # what the stand-in keeps of what it was asked
FAKE_DECODE_FAILS = 0  # a NUL in a prompt (no message can hold one) makes its decode fail


@dataclass
class _FakeSampler:
    answer_tokens: int
    script: bytes  # the answer's text, a byte a token; empty: the numbered words
    drawn: int = 0


@dataclass
class FakeBackend:
    """Decodes nothing: each step takes ``step_s``, and every answer is the words " w1 w2
    ..." ending by itself after ``answer_tokens`` of them (or failing at word ``fails_at``),
    or, with an ``answer_text``, that text (a byte a token, then the end: what a test needs
    the model to say, citations say).
    Its sequences keep their tokens, so kept prefixes, truncation and reuse behave as
    llama.cpp's do."""

    slots: int
    n_ctx_seq: int
    n_batch: int = 512
    step_s: float = 0.0
    answer_tokens: int = 24
    fails_at: int = 0  # if set, decoding an answer's word of this number fails (a GPU falls over)
    answer_text: str = ""
    decodes: list[int] = field(default_factory=list)  # the rows of each decode, for tests
    # Each answer's sampling, the newest RECORDED, for tests.
    samplings: deque[Sampling] = field(default_factory=lambda: deque(maxlen=RECORDED))
    _cells: dict[int, list[int]] = field(default_factory=dict)

    def decode(self, rows: Sequence[Row]) -> int:
        self.decodes.append(len(rows))
        if self.step_s:
            time.sleep(self.step_s)
        failing = (FAKE_DECODE_FAILS, FAKE_WORDS + self.fails_at if self.fails_at else None)
        if any(row.token in failing for row in rows):
            return -1
        for row in rows:
            cells = self._cells.setdefault(row.seq, [])
            if row.pos != len(cells):
                return -1  # llama.cpp refuses positions that are not consecutive
            cells.append(row.token)
        return 0

    def sampler_new(self, sampling: Sampling, recent: Sequence[int]) -> object:
        self.samplings.append(sampling)
        return _FakeSampler(answer_tokens=self.answer_tokens, script=self.answer_text.encode())

    def sample(self, sampler: Any, index: int) -> int:
        sampler.drawn += 1
        if sampler.script:
            said = sampler.script[sampler.drawn - 1 : sampler.drawn]
            return said[0] if said else FAKE_END
        return FAKE_END if sampler.drawn > sampler.answer_tokens else FAKE_WORDS + sampler.drawn

    def sampler_free(self, sampler: object) -> None:
        pass

    def is_end(self, token: int) -> bool:
        return token == FAKE_END

    def piece(self, token: int) -> bytes:
        return f" w{token - FAKE_WORDS}".encode() if token > FAKE_WORDS else bytes([token])

    def seq_clear(self, seq: int) -> None:
        self._cells.pop(seq, None)

    def seq_truncate(self, seq: int, length: int) -> bool:
        self._cells[seq] = self._cells.get(seq, [])[:length]
        return True

    def seq_state_get(self, seq: int) -> bytes:
        return array.array("I", self._cells.get(seq, [])).tobytes()

    def seq_state_set(self, seq: int, data: bytes) -> bool:
        cells = array.array("I")
        cells.frombytes(data)
        self._cells[seq] = cells.tolist()
        return True

    def close(self) -> None:
        self._cells.clear()


class FakeVocabulary:
    """Bytes as tokens, no chat template: the plain transcript prompt is used. Keeps every
    text it was given (the newest RECORDED, ``read``), so that tests see what a model was
    asked."""

    chat_template: str | None = None
    bos_text = ""
    eos_text = ""

    def __init__(self) -> None:
        self.read: deque[str] = deque(maxlen=RECORDED)

    def tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        self.read.append(text)
        return list(text.encode())

    def text(self, tokens: Sequence[int]) -> str:
        return bytes(tokens).decode("utf-8", errors="replace")
