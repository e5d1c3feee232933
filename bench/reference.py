"""Plain llama-cpp-python: the worker's model, prompt and settings, with nothing around it.

Runs in the bench process while the worker is idle, so the two never share the 2 cores.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from django.conf import settings

from llm.model import LoadedModel, model_load, model_spec_from_settings
from llm.prompt import Turn, stop_strings


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
    if model.has_chat_template:
        eos = model.llama.detokenize([model.llama.token_eos()], special=True)
        stop.append(eos.decode("utf-8", errors="ignore"))
    generated = [0]

    def count(ids: npt.NDArray[np.intc], logits: npt.NDArray[np.single]) -> bool:
        generated[0] = max(generated[0], len(ids) - len(prompt))
        return False

    started = time.monotonic()
    chunks = model.llama.create_completion(
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
