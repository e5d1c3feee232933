"""The benchmark's "several people asking at once" section: its figures, and the plain loop."""

import pytest

from bench.measure_engine import Ask, _summary, limit_measure
from llm.model import LoadedModel


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


@pytest.mark.model
def test_the_limit_decodes_several_sequences_together(loaded_model: LoadedModel):
    prompt = loaded_model.vocabulary.tokenize("One, two, three,", add_bos=True, special=False)
    alone, together = limit_measure([[prompt], [prompt, prompt]], tokens=4)
    assert alone > 0
    assert together > 0
