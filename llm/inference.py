"""Inference: a conversation and sampling parameters in, a stream of text out.

Knows nothing of threads, replies or the database: whatever asks for an answer (a thread's
reply now; a document's co-author or an API request later) brings the turns, the instructions
and the parameters, hands over where the text goes, and gets the run's figures back.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .model import LoadedModel
from .prompt import Turn, fit_turns, stop_strings, turns_with_context


@dataclass(frozen=True)
class InferenceRequest:
    system: str
    turns: Sequence[Turn]  # oldest first; the oldest are dropped when they do not fit
    assistant_name: str
    max_tokens: int
    temperature: float
    repeat_penalty: float
    context: str = ""  # read after the newest turn: the sources for the question


@dataclass(frozen=True)
class InferenceResult:
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop", "length", or "" when stopped from outside
    stopped: bool  # ``should_stop`` ended it
    time_to_first_token_ms: float | None
    tokens_per_second: float | None


def infer(
    model: LoadedModel,
    request: InferenceRequest,
    *,
    on_piece: Callable[[str], None],
    should_stop: Callable[[], bool],
) -> InferenceResult:
    """Stream the answer to ``request`` into ``on_piece``, asking ``should_stop`` after each
    piece; the prompt is fitted to the context window, leaving room for the answer."""
    answer_room = min(request.max_tokens, model.n_ctx // 2)

    def prompt_for(kept: Sequence[Turn]) -> list[int]:
        return model.prompt_tokens(
            system=request.system,
            turns=turns_with_context(kept, request.context),
            assistant_name=request.assistant_name,
        )

    kept = fit_turns(
        request.turns, fits=lambda kept: len(prompt_for(kept)) + answer_room <= model.n_ctx
    )
    prompt = prompt_for(kept)
    speakers = {turn.speaker for turn in request.turns if not turn.is_assistant}
    started = time.monotonic()
    pieces, completion = model.stream(
        prompt,
        stop=stop_strings(speakers=speakers),
        max_tokens=min(request.max_tokens, model.n_ctx - len(prompt)),
        temperature=request.temperature,
        repeat_penalty=request.repeat_penalty,
    )
    first_at: float | None = None
    stopped = False
    for piece in pieces:
        if first_at is None:
            first_at = time.monotonic()
        on_piece(piece)
        if should_stop():
            stopped = True
            break  # leaving the generator ends llama.cpp's decoding loop
    ended = time.monotonic()
    streaming_s = ended - first_at if first_at is not None else 0.0
    return InferenceResult(
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        finish_reason="" if stopped else completion.finish_reason or "stop",
        stopped=stopped,
        time_to_first_token_ms=(first_at - started) * 1000 if first_at is not None else None,
        tokens_per_second=(completion.completion_tokens / streaming_s if streaming_s > 0 else None),
    )
