"""Plain llama-cpp-python: the worker's model, prompt and settings, with nothing around it.

Runs in the bench process while the worker is idle, so the two never share the 2 cores.
``reference_model`` builds prompts exactly as the worker does; ``plain_run`` decodes them
with llama-cpp-python's own ``Llama`` (one sequence, its own context), not our engine.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt
from django.conf import settings

from llm.model import (
    LoadedModel,
    ModelSpec,
    model_load,
    model_spec_from_settings,
    models_unload,
    worker_threads,
)
from llm.prompt import Turn, stop_strings

if TYPE_CHECKING:
    from llama_cpp import Llama


@dataclass
class PlainRun:
    prompt_tokens: int
    completion_tokens: int
    text: str
    ttft_s: float  # from the call to the first piece of text
    first_piece_at: float
    last_piece_at: float

    @property
    def tokens_per_s(self) -> float:
        return decode_rate(self.completion_tokens, self.first_piece_at, self.last_piece_at)


def decode_rate(tokens: int, first_at: float, last_at: float) -> float:
    """Tokens per second between the first and the last piece (the first token is free)."""
    if tokens < 2 or last_at <= first_at:
        return 0.0
    return (tokens - 1) / (last_at - first_at)


def reference_model() -> LoadedModel:
    return model_load(model_spec_from_settings())


def models_free() -> None:
    """Free the worker's model and the plain one while the interpreter is still whole."""
    models_unload(wait=True)
    _plain_llama.cache_clear()


def plain_llama() -> "Llama":
    """The default model in llama-cpp-python's ``Llama``, as a plain program would load it,
    with the threads the worker's model gets under the current settings."""
    spec = model_spec_from_settings()
    return _plain_llama(spec, worker_threads(spec.n_threads))


@lru_cache(maxsize=1)
def _plain_llama(spec: ModelSpec, n_threads: int) -> "Llama":
    from llama_cpp import Llama

    return Llama(
        model_path=str(spec.path),
        n_ctx=spec.n_ctx,
        n_threads=n_threads,
        n_gpu_layers=spec.n_gpu_layers,
        verbose=False,
    )


def prompt_for(model: LoadedModel, turns: Sequence[Turn], system: str | None = None) -> list[int]:
    """The prompt the worker builds for a thread of ``turns`` (a short thread fits whole), or
    for another request with its own ``system`` instructions (a document write)."""
    if system is None:
        system = settings.LLM_SYSTEM_PROMPT.replace("{name}", settings.ASSISTANT_NAME)
    return model.prompt_tokens(system=system, turns=turns, assistant_name=settings.ASSISTANT_NAME)


def plain_run(model: LoadedModel, turns: Sequence[Turn], system: str | None = None) -> PlainRun:
    prompt = prompt_for(model, turns, system)
    from llama_cpp import StoppingCriteriaList

    stop = stop_strings(speakers={t.speaker for t in turns if not t.is_assistant})
    llama = plain_llama()
    if model.has_chat_template:
        eos = llama.detokenize([llama.token_eos()], special=True)
        stop.append(eos.decode("utf-8", errors="ignore"))
    generated = [0]

    def count(ids: npt.NDArray[np.intc], logits: npt.NDArray[np.single]) -> bool:
        generated[0] = max(generated[0], len(ids) - len(prompt))
        return False

    started = time.monotonic()
    chunks = llama.create_completion(
        prompt=prompt,
        stream=True,
        stop=stop,
        max_tokens=min(settings.LLM_MAX_TOKENS, model.n_ctx - len(prompt)),
        temperature=settings.LLM_TEMPERATURE,
        repeat_penalty=settings.LLM_REPEAT_PENALTY,
        stopping_criteria=StoppingCriteriaList([count]),
    )
    text, first, last = "", 0.0, 0.0
    for chunk in cast(Any, chunks):
        piece = chunk["choices"][0]["text"]
        if piece:
            last = time.monotonic()
            first = first or last
            text += piece
    return PlainRun(
        prompt_tokens=len(prompt),
        completion_tokens=generated[0],
        text=text,
        ttft_s=first - started,
        first_piece_at=first,
        last_piece_at=last,
    )
