"""A follow-up reads only its new part: evaluated states are kept, bounded, and put back."""

from llm.kept_states import KeptState, KeptStates
from llm.model import LoadedModel
from llm.prompt import Turn


def _state(tokens: list[int], size: int = 100) -> KeptState:
    return KeptState(tokens=tuple(tokens), data=bytes(size))


def test_the_state_sharing_the_longest_start_with_a_prompt_is_chosen():
    kept = KeptStates(capacity_bytes=10_000)
    kept.keep(_state([1, 2, 3]))
    kept.keep(_state([1, 2, 9, 9]))
    kept.keep(_state([7, 8]))

    state, shared = kept.best_for([1, 2, 9, 4])

    assert state is not None
    assert (state.tokens, shared) == ((1, 2, 9, 9), 3)
    assert kept.best_for([5, 6]) == (None, 0)


def test_states_are_bounded_in_memory_and_the_least_recently_used_goes_first():
    kept = KeptStates(capacity_bytes=3 * _state([0]).size_bytes)
    for first in (1, 2, 3):
        kept.keep(_state([first]))
    kept.best_for([1])  # used: now the most recent

    kept.keep(_state([4]))

    assert len(kept) == 3
    assert kept.size_bytes <= kept.capacity_bytes
    assert kept.best_for([2]) == (None, 0), "the least recently used was dropped"
    assert kept.best_for([1])[1] == 1
    kept.keep(_state([5], size=10_000))  # larger than the bound: not kept, nothing dropped
    assert len(kept) == 3


def test_a_state_that_extends_a_kept_one_replaces_it():
    kept = KeptStates(capacity_bytes=10_000)
    kept.keep(_state([1, 2]))
    kept.keep(_state([1, 2, 3, 4]))

    assert len(kept) == 1
    assert kept.best_for([1, 2, 3])[0] == _state([1, 2, 3, 4])


def _thread(turns: int) -> list[Turn]:
    return [
        Turn(speaker="alice" if i % 2 else "bob", text=f"Point {i}: the launch needs item {i}.")
        for i in range(turns)
    ]


def _answer(model: LoadedModel, turns: list[Turn]) -> tuple[str, int]:
    """The greedy answer to ``turns``, and how many of its prompt's tokens were read."""
    prompt = model.prompt_tokens(
        system="You are a helpful assistant.", turns=turns, assistant_name="assistant"
    )
    pieces, completion = model.stream(
        prompt, stop=[], max_tokens=24, temperature=0.0, repeat_penalty=1.0
    )
    text = "".join(pieces)
    return text, completion.prompt_tokens - completion.reused_tokens


def test_a_follow_up_after_other_threads_reuses_its_threads_state_and_answers_as_a_cold_run(
    loaded_model, monkeypatch
):
    thread = _thread(12)
    monkeypatch.setattr(loaded_model.engine, "kept_states", KeptStates(capacity_bytes=256 * 2**20))
    first, _ = _answer(loaded_model, thread)
    follow_up = [
        *thread,
        Turn(speaker="assistant", text=first, is_assistant=True),
        Turn(speaker="alice", text="And what comes after that?"),
    ]
    _answer(loaded_model, _thread(3))  # other threads answered in between
    _answer(loaded_model, [Turn(speaker="carol", text="Unrelated: name a colour.")])
    prompt = loaded_model.prompt_tokens(
        system="You are a helpful assistant.", turns=follow_up, assistant_name="assistant"
    )
    state, shared = loaded_model.engine.kept_states.best_for(prompt)
    assert state is not None
    assert shared > len(prompt) // 2, "the thread's own state is found"

    warm, read_warm = _answer(loaded_model, follow_up)
    monkeypatch.setattr(loaded_model.engine, "kept_states", KeptStates(capacity_bytes=0))
    cold, read_cold = _answer(loaded_model, follow_up)

    assert read_cold == len(prompt), "cold: the whole prompt is read"
    assert read_warm == len(prompt) - shared, "warm: only what the kept state lacks is read"
    assert warm == cold
