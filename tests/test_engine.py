"""The engine that decodes a model's jobs together, driven through the deterministic backend.

The stand-in answers " w1 w2 ..." and checks what llama.cpp checks (positions consecutive in
each sequence), so these tests prove the scheduling; tests/test_engine_model.py runs the
same engine on the real model.
"""

import threading
import time
from collections.abc import Iterator

import pytest

from llm.backends import FAKE_DECODE_FAILS, FakeBackend
from llm.engine import Engine, EngineError, EngineJob, Sampling
from llm.kept_states import KeptStates


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(slots=4, n_ctx_seq=4096, step_s=0.002, answer_tokens=24)


@pytest.fixture
def engine(backend: FakeBackend) -> Iterator[Engine]:
    engine = Engine(backend, prompt_slice=16)
    yield engine
    engine.close()
    engine.join(timeout=5)


def job(prompt_length: int = 20, *, max_tokens: int = 100, stop: tuple[str, ...] = ()) -> EngineJob:
    return EngineJob(
        list(range(1, prompt_length + 1)), max_tokens=max_tokens, sampling=Sampling(), stop=stop
    )


def words(count: int, start: int = 1) -> str:
    return "".join(f" w{n}" for n in range(start, start + count))


def test_a_job_streams_its_answer_and_ends_by_itself(engine: Engine) -> None:
    running = engine.submit(job())

    assert "".join(running.pieces()) == words(24)
    assert running.figures.finish_reason == "stop"
    assert running.figures.completion_tokens == 24
    assert running.figures.prompt_tokens == 20
    assert running.figures.time_to_first_token_s is not None


def test_max_tokens_n_gives_exactly_n_tokens(engine: Engine) -> None:
    running = engine.submit(job(max_tokens=5))

    assert "".join(running.pieces()) == words(5)
    assert running.figures.completion_tokens == 5
    assert running.figures.finish_reason == "length"


def test_jobs_asked_together_are_decoded_in_the_same_steps(
    engine: Engine, backend: FakeBackend
) -> None:
    jobs = [engine.submit(job()) for _ in range(4)]

    texts = ["".join(running.pieces()) for running in jobs]

    assert texts == [words(24)] * 4
    assert max(backend.decodes) >= 4  # one decode held a token of each
    assert engine.steps < 4 * 24  # far fewer steps than one job after another would take


def test_more_jobs_than_slots_wait_for_a_free_sequence_and_all_finish(
    backend: FakeBackend,
) -> None:
    backend.slots = 2
    engine = Engine(backend, prompt_slice=64)
    try:
        jobs = [engine.submit(job(prompt_length=4, max_tokens=10)) for _ in range(6)]
        texts = ["".join(running.pieces()) for running in jobs]
    finally:
        engine.close()
    assert texts == [words(10)] * 6
    assert max(backend.decodes) <= 2 * 4  # never more than two sequences' rows


def test_a_stopped_job_keeps_its_text_and_the_others_go_on(engine: Engine) -> None:
    stopped, other = engine.submit(job(max_tokens=1000)), engine.submit(job(max_tokens=30))
    pieces = stopped.pieces()
    first = next(pieces)
    stopped.stop()
    rest = "".join(pieces)

    assert (first + rest).startswith(" w1")
    assert stopped.figures.finish_reason == ""
    assert stopped.figures.completion_tokens < 1000
    assert "".join(other.pieces()) == words(24)


def test_leaving_the_stream_early_stops_the_job(engine: Engine) -> None:
    running = engine.submit(job(max_tokens=1000))
    for _piece in running.pieces():
        break

    assert running.ended.wait(timeout=5)
    assert running.figures.finish_reason == ""


def test_a_job_stopped_while_it_waits_never_starts(backend: FakeBackend) -> None:
    backend.slots = 1
    engine = Engine(backend)
    try:
        first = engine.submit(job(max_tokens=50))
        waiting = engine.submit(job())
        waiting.stop()
        assert "".join(waiting.pieces()) == ""
        assert waiting.figures.completion_tokens == 0
        assert "".join(first.pieces()) == words(24)
    finally:
        engine.close()


def test_a_stop_string_ends_the_answer_before_it(engine: Engine) -> None:
    running = engine.submit(job(stop=(" w4",)))

    assert "".join(running.pieces()) == words(3)
    assert running.figures.finish_reason == "stop"


def test_text_held_back_for_a_stop_string_that_never_comes_is_given_in_full(
    engine: Engine,
) -> None:
    running = engine.submit(job(stop=(" w2 never",)))

    assert "".join(running.pieces()) == words(24)


def test_a_long_prompt_is_read_in_slices_while_others_stream(
    engine: Engine, backend: FakeBackend
) -> None:
    answering = engine.submit(job(max_tokens=10_000))
    backend.answer_tokens = 10_000
    pieces = answering.pieces()
    next(pieces)
    decodes_before = len(backend.decodes)
    long = engine.submit(job(prompt_length=2000, max_tokens=1))
    streamed_meanwhile = 0
    while not long.ended.is_set():
        next(pieces)
        streamed_meanwhile += 1
    answering.stop()
    "".join(pieces)

    assert "".join(long.pieces()) == words(1)
    reading_steps = backend.decodes[decodes_before:]
    assert max(reading_steps) <= 16 + 1  # a slice and the streaming answer's token
    assert streamed_meanwhile >= 2000 // 16 - 5  # it got a token in (nearly) every step


def test_a_lone_prompt_is_read_at_once(engine: Engine, backend: FakeBackend) -> None:
    running = engine.submit(job(prompt_length=300, max_tokens=1))
    "".join(running.pieces())

    assert backend.decodes[0] == 300


def test_a_failed_decode_fails_only_its_job_and_the_engine_goes_on(engine: Engine) -> None:
    healthy = engine.submit(job(max_tokens=40))
    broken = engine.submit(EngineJob([5, FAKE_DECODE_FAILS, 7], max_tokens=10, sampling=Sampling()))

    with pytest.raises(EngineError):
        "".join(broken.pieces())
    assert "".join(healthy.pieces()) == words(24)
    assert "".join(engine.submit(job(max_tokens=3)).pieces()) == words(3)


def test_a_follow_up_reads_only_its_new_tokens_even_after_other_jobs(
    backend: FakeBackend,
) -> None:
    engine = Engine(backend, kept_states=KeptStates(capacity_bytes=2**20))
    try:
        first = engine.submit(job(prompt_length=200, max_tokens=5))
        "".join(first.pieces())
        "".join(
            engine.submit(
                EngineJob([900 + n for n in range(50)], max_tokens=5, sampling=Sampling())
            ).pieces()
        )
        follow_up_prompt = [*first.prompt, 300, 301, 302, 303]
        follow_up = engine.submit(EngineJob(follow_up_prompt, max_tokens=5, sampling=Sampling()))
        assert "".join(follow_up.pieces()) == words(5)
    finally:
        engine.close()
    assert follow_up.figures.reused_tokens == 200
    assert follow_up.figures.prompt_tokens == 204


def test_a_prompt_longer_than_a_sequence_is_refused_with_the_numbers(engine: Engine) -> None:
    with pytest.raises(ValueError, match="4096"):
        engine.submit(job(prompt_length=5000))


def test_a_closed_engine_finishes_its_jobs_then_takes_no_more(backend: FakeBackend) -> None:
    engine = Engine(backend)
    running = engine.submit(job(max_tokens=10))
    engine.close()

    assert "".join(running.pieces()) == words(10)
    with pytest.raises(RuntimeError):
        engine.submit(job())
    engine.join(timeout=5)
    assert not any(t.name == "engine" and t.is_alive() for t in threading.enumerate())


def test_each_job_measures_its_own_time_to_first_token(engine: Engine) -> None:
    started = time.monotonic()
    jobs = [engine.submit(job(prompt_length=8)) for _ in range(3)]
    for running in jobs:
        "".join(running.pieces())

    for running in jobs:
        ttft = running.figures.time_to_first_token_s
        assert ttft is not None
        assert 0 < ttft < time.monotonic() - started
        assert running.figures.decode_s > 0


def test_a_reader_that_gathers_gets_the_first_piece_alone_then_fewer_larger_ones(
    engine: Engine,
) -> None:
    running = engine.submit(job(max_tokens=40))
    pieces = list(running.pieces(gather_s=0.05))

    assert "".join(pieces) == words(24)
    assert pieces[0] == " w1", "the first piece is not held back"
    assert len(pieces) < 24, "later pieces hold several tokens each"


def test_prompts_joining_together_each_get_a_slice_per_step(
    engine: Engine, backend: FakeBackend
) -> None:
    backend.answer_tokens = 10_000
    answering = engine.submit(job(max_tokens=10_000))
    pieces = answering.pieces()
    next(pieces)
    decodes_before = len(backend.decodes)
    joining = [engine.submit(job(prompt_length=40, max_tokens=1)) for _ in range(3)]
    for running in joining:
        assert "".join(running.pieces()) == words(1)
    answering.stop()
    "".join(pieces)

    # The steps that read prompts: more than the streaming answer's one token (it goes on
    # alone, a token a step, until the stop above reaches it).
    reading_steps = [rows for rows in backend.decodes[decodes_before:] if rows > 1]
    assert max(reading_steps) <= 3 * 16 + 1, "a slice per prompt, and the streaming token"
    assert len(reading_steps) < 120 // 16, "fewer steps than one slice a step would take"
