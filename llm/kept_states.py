"""Evaluated prompts kept between answers, so a follow-up does not re-read its whole thread.

Each job the engine runs has a sequence of the context, cleared when the job ends. Before it
is cleared, its state (the evaluated tokens and llama.cpp's memory of them, for that sequence
alone) is kept here, up to a memory bound, the least recently used dropped first; when a job
joins, the state sharing the longest start with its prompt is copied into its sequence, and
only the rest of the prompt is read (``llm.engine``). Keyed by tokens, not threads: whatever
shares a start gains (a thread, a document's transcript, an API conversation), whichever
other jobs ran in between.

llama-cpp-python has a cache of its own (``Llama.set_cache``), but it serves its one-sequence
``Llama``, and each state it keeps copies the logits buffer too (``n_batch`` × vocabulary
floats: 100 MB for SmolLM2, 500 MB for Gemma 3), which sampling no longer reads.
"""

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class KeptState:
    tokens: tuple[int, ...]  # what the context had evaluated
    data: bytes  # llama.cpp's state of the context (its KV cache), as llama_state_get_data

    @property
    def size_bytes(self) -> int:
        return len(self.data) + 4 * len(self.tokens)


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


class KeptStates:
    """States of recently evaluated prompts, at most ``capacity_bytes`` together."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity_bytes = capacity_bytes
        self._states: OrderedDict[tuple[int, ...], KeptState] = OrderedDict()

    @property
    def size_bytes(self) -> int:
        return sum(state.size_bytes for state in self._states.values())

    def __len__(self) -> int:
        return len(self._states)

    def keep(self, state: KeptState) -> None:
        """Keep ``state`` as the most recent; a state it extends is dropped (it is a prefix
        of this one, so this one serves every prompt that one would)."""
        for tokens in list(self._states):
            if common_prefix_length(tokens, state.tokens) == len(tokens):
                del self._states[tokens]
        if state.size_bytes > self.capacity_bytes:
            return
        self._states[state.tokens] = state
        while self.size_bytes > self.capacity_bytes:
            self._states.popitem(last=False)

    def best_for(self, prompt: Sequence[int]) -> tuple[KeptState | None, int]:
        """The kept state sharing the longest start with ``prompt``, and that length."""
        best, best_length = None, 0
        for state in self._states.values():
            length = common_prefix_length(state.tokens, prompt)
            if length > best_length:
                best, best_length = state, length
        if best is not None:
            self._states.move_to_end(best.tokens)
        return best, best_length
