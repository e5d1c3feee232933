"""The benchmark's "several people asking at once" section: its figures, and the plain loop."""

from pathlib import Path

import pytest

from bench.measure_engine import Ask, _summary, alone_measure, cpu_per_token, limit_measure
from llm.backends import FakeBackend, FakeVocabulary
from llm.model import LoadedModel, ModelSpec


def test_ours_counts_every_answer_from_the_common_start_to_the_last_end():
    asks = [
        Ask(
            sent_at=10.0, first_chunk_at=10.1, ended_at=12.0, completion_tokens=128, outcome="done"
        ),
        Ask(
            sent_at=10.0, first_chunk_at=10.3, ended_at=14.0, completion_tokens=128, outcome="done"
        ),
        Ask(sent_at=10.002, first_chunk_at=10.202, ended_at=13.0, completion_tokens=64),
    ]
    summary = _summary(asks)
    assert summary["tokens_per_s"] == 80.0  # 320 tokens in 4 s
    assert summary["ttft_ms_p50"] == 200.0
    assert summary["ttft_ms_max"] == 300.0


def test_where_the_cores_went_counts_the_busiest_worker_threads_as_the_model():
    asks = [
        Ask(sent_at=10.0, ended_at=12.0, completion_tokens=100),
        Ask(sent_at=10.0, ended_at=12.0, completion_tokens=100),
    ]
    before = {
        "worker": {1: 5.0, 2: 5.0, 3: 1.0},
        "daphne": {0: 2.0},
        "redis": {},
        "clients": {0: 1.0},
    }
    after = {
        "worker": {1: 6.6, 2: 6.4, 3: 1.1, 4: 0.1},  # thread 4 started meanwhile
        "daphne": {0: 2.2},
        "redis": {9: 0.04},
        "clients": {0: 1.06},
    }

    split = cpu_per_token(before, after, model_threads=2, asks=asks)

    assert split == {
        "model_threads": 15.0,  # (1.6 + 1.4) s over 200 tokens
        "worker_other_threads": 1.0,
        "daphne": 1.0,
        "redis": 0.2,
        "clients": 0.3,
        "cores_busy": 1.75,  # 3.5 CPU seconds in 2 s
    }


def test_our_engine_alone_answers_every_prompt_together_and_counts_as_ours_does():
    spec = ModelSpec(path=Path("fake.gguf"), name="fake", n_ctx=256, n_threads=1, n_gpu_layers=0)
    backend = FakeBackend(slots=2, n_ctx_seq=256, step_s=0.001, answer_tokens=50)
    model = LoadedModel(spec, FakeVocabulary(), backend)
    try:
        summary = alone_measure(model, [[1, 2, 3], [4, 5, 6]], tokens=10)
    finally:
        model.engine.close()
        model.engine.join(timeout=5)

    assert backend.decodes == [6] + [2] * 9  # both prompts read at once, then both answered
    assert summary["tokens_per_s"] is not None
    assert summary["tokens_per_s"] > 0
    assert summary["ttft_ms_max"] is not None
    assert summary["ttft_ms_max"] > 0


@pytest.mark.model
def test_the_limit_decodes_several_sequences_together(loaded_model: LoadedModel):
    prompt = loaded_model.vocabulary.tokenize("One, two, three,", add_bos=True, special=False)
    alone, together = limit_measure([[prompt], [prompt, prompt]], tokens=4)
    assert alone > 0
    assert together > 0
