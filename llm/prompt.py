"""Turning a thread into a prompt: speakers' names, the context budget, and stop strings.

Pure functions, so the rules can be tested without a model; ``llm.model`` supplies the
real formatting and token counting.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str
    is_assistant: bool = False


def chat_messages(*, system: str, turns: Sequence[Turn]) -> list[dict[str, str]]:
    """Messages for a chat template: people's turns carry their name, the assistant's do not."""
    messages = [{"role": "system", "content": system}]
    for turn in turns:
        if turn.is_assistant:
            messages.append({"role": "assistant", "content": turn.text})
        else:
            messages.append({"role": "user", "content": f"{turn.speaker}: {turn.text}"})
    return messages


def transcript_prompt(*, system: str, turns: Sequence[Turn], assistant_name: str) -> str:
    """A plain transcript for models whose GGUF has no chat template, ending on our cue."""
    lines = [system, ""]
    lines += [f"{turn.speaker}: {turn.text}" for turn in turns]
    lines.append(f"{assistant_name}:")
    return "\n".join(lines)


def turns_with_context(turns: Sequence[Turn], context: str) -> list[Turn]:
    """``turns`` with ``context`` (the sources for the question) after the newest turn's text."""
    if not context or not turns:
        return list(turns)
    *earlier, newest = turns
    return [*earlier, replace(newest, text=f"{newest.text}\n\n{context}")]


def stop_strings(*, speakers: Iterable[str]) -> list[str]:
    """Strings that mean the model has started writing someone else's turn."""
    return sorted({f"\n{name}:" for name in speakers})


def fit_turns(turns: Sequence[Turn], *, fits: Callable[[Sequence[Turn]], bool]) -> list[Turn]:
    """Keep the newest turns that fit, dropping the oldest first.

    If even the newest turn alone does not fit, keep only as much of its end as fits.
    Raises ValueError when nothing fits at all (the system prompt alone is too long).
    """
    kept = list(turns)
    while kept and not fits(kept):
        if len(kept) > 1:
            kept.pop(0)
            continue
        newest = kept[0]
        if len(newest.text) <= 1:
            kept = []
            break
        kept = [replace(newest, text=newest.text[len(newest.text) // 2 :])]
    if not fits(kept):
        raise ValueError("The system prompt alone does not fit the model's context window.")
    return kept
