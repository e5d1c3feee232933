"""Prompt building: speakers' names, the context budget, stop strings."""

import pytest

from llm.prompt import Turn, chat_messages, fit_turns, stop_strings, transcript_prompt


def _words(turns):
    return sum(len(turn.text.split()) + 1 for turn in turns)


def test_people_are_named_in_their_turns_and_the_assistant_speaks_as_itself():
    messages = chat_messages(
        system="Be brief.",
        turns=[Turn("alice", "What should we call it?"), Turn("assistant", "Nova.", True)],
    )
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "alice: What should we call it?"},
        {"role": "assistant", "content": "Nova."},
    ]


def test_oldest_turns_are_dropped_first_until_the_prompt_fits():
    turns = [Turn("alice", "one two three"), Turn("bob", "four five"), Turn("carol", "six")]
    kept = fit_turns(turns, fits=lambda kept: _words(kept) <= 7)
    assert [turn.speaker for turn in kept] == ["bob", "carol"]


def test_everything_is_kept_when_it_fits():
    turns = [Turn("alice", "hi"), Turn("bob", "hello")]
    assert fit_turns(turns, fits=lambda kept: True) == turns


def test_a_single_turn_too_long_for_the_window_keeps_its_end():
    long_turn = Turn("alice", " ".join(f"w{i}" for i in range(100)))
    kept = fit_turns([long_turn], fits=lambda kept: _words(kept) <= 20)
    assert len(kept) == 1
    assert _words(kept) <= 20
    assert kept[0].text.endswith("w99")


def test_a_system_prompt_that_cannot_fit_is_an_error_not_an_overflow():
    with pytest.raises(ValueError, match="context window"):
        fit_turns([Turn("alice", "hi")], fits=lambda kept: False)


def test_stop_strings_stop_the_model_writing_another_participants_turn():
    assert stop_strings(speakers=["bob", "alice", "bob"]) == ["\nalice:", "\nbob:"]


def test_models_without_a_chat_template_get_a_named_transcript_ending_on_the_assistant_cue():
    prompt = transcript_prompt(
        system="Be brief.", turns=[Turn("alice", "Name it?")], assistant_name="assistant"
    )
    assert prompt == "Be brief.\n\nalice: Name it?\nassistant:"
