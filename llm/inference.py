"""Inference: a conversation and sampling parameters in, a stream of text out.

Knows nothing of threads, replies or the database: whatever asks for an answer (a thread's
reply, a document's co-author, an API request) brings the turns and instructions
(``InferenceRequest``, fitted into a prompt by ``request_prompt``) or its own prompt tokens
(``ModelPrompt``), hands over where the text goes, and gets the run's figures back.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
class ModelPrompt:
    """Exactly what the model reads, and how it may answer."""

    tokens: list[int]
    max_tokens: int
    temperature: float
    repeat_penalty: float = 1.0
    top_p: float = 0.95  # llama.cpp's default
    stop: list[str] = field(default_factory=list)


class PromptTooLong(ValueError):
    """Not even the instructions fit the model's context for one answer; says the numbers."""


@dataclass(frozen=True)
class InferenceResult:
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop", "length", or "" when stopped from outside
    stopped: bool  # ``should_stop`` ended it
    time_to_first_token_ms: float | None
    tokens_per_second: float | None


def request_prompt(model: LoadedModel, request: InferenceRequest) -> ModelPrompt:
    """The prompt for ``request``, fitted to the model's context window (the oldest turns
    dropped first), leaving room for the answer."""
    answer_room = min(request.max_tokens, model.n_ctx // 2)

    def prompt_for(kept: Sequence[Turn]) -> list[int]:
        return model.prompt_tokens(
            system=request.system,
            turns=turns_with_context(kept, request.context),
            assistant_name=request.assistant_name,
        )

    try:
        kept = fit_turns(
            request.turns, fits=lambda kept: len(prompt_for(kept)) + answer_room <= model.n_ctx
        )
    except ValueError:
        raise PromptTooLong(
            f"The instructions alone take {len(prompt_for([]))} tokens and the answer needs "
            f"room for {answer_room}, but this model's context holds {model.n_ctx} tokens "
            "per answer: shorten the instructions or give the model a larger context."
        ) from None
    tokens = prompt_for(kept)
    speakers = {turn.speaker for turn in request.turns if not turn.is_assistant}
    return ModelPrompt(
        tokens=tokens,
        max_tokens=min(request.max_tokens, model.n_ctx - len(tokens)),
        temperature=request.temperature,
        repeat_penalty=request.repeat_penalty,
        stop=stop_strings(speakers=speakers),
    )


def decode(
    model: LoadedModel,
    prompt: ModelPrompt,
    *,
    on_piece: Callable[[str], None],
    should_stop: Callable[[], bool],
    gather_s: float = 0.0,
) -> InferenceResult:
    """Stream the answer to ``prompt`` into ``on_piece``, asking ``should_stop`` after each
    piece (after the first, a piece holds what was decoded in ``gather_s``)."""
    started = time.monotonic()
    pieces, completion = model.stream(
        prompt.tokens,
        stop=prompt.stop,
        max_tokens=prompt.max_tokens,
        temperature=prompt.temperature,
        repeat_penalty=prompt.repeat_penalty,
        top_p=prompt.top_p,
        gather_s=gather_s,
    )
    first_at: float | None = None
    stopped = False
    try:
        for piece in pieces:
            if first_at is None:
                first_at = time.monotonic()
            on_piece(piece)
            if should_stop():
                stopped = True
                break
    finally:
        pieces.close()  # a stream left early (stopped, or an error) stops the job in the engine
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


def infer(
    model: LoadedModel,
    request: InferenceRequest,
    *,
    on_piece: Callable[[str], None],
    should_stop: Callable[[], bool],
) -> InferenceResult:
    """``decode`` the prompt fitted for ``request``."""
    return decode(model, request_prompt(model, request), on_piece=on_piece, should_stop=should_stop)
