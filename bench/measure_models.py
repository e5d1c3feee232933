"""Models: a follow-up's time to first token with kept states, and two models at once.

Follow-ups run in the bench process on the default model, through ``llm.inference.infer``
(what the worker runs, without the stack around it, whose overhead the efficiency figures
cover): a fresh 100-token prompt; a follow-up in a thread of about 1,500 tokens (300 in the
smoke run) read cold (nothing kept), warm (the thread's answer just given) and warm after two
other threads were answered in between; and the memory the thread's kept state takes.

Two models at once: each model decodes in a process of its own (as two workers would), alone
and then both together; tokens/s of each.
"""

import json
import os
import statistics
import subprocess
import sys
from typing import Any

from django.conf import settings

from llm.inference import InferenceRequest, infer
from llm.kept_states import KeptStates
from llm.model import LoadedModel
from llm.prompt import Turn

from .context import Bench
from .stats import r

IN_BETWEEN_DIVISOR = 3  # each thread answered in between: a third of the follow-up's thread
FOLLOW_UP_ANSWER_TOKENS = 16
RATE_TOKENS = 160
TOPICS = ("the release train", "the hiring plan", "the office move")


def measure(bench: Bench) -> dict[str, Any]:
    bench.progress("10. models: follow-ups with kept states, two models at once")
    followup = measure_followups(
        bench.model, reps=1 if bench.config.smoke else 3, thread_tokens=bench.config.followup_tokens
    )
    bench.progress(f"   follow-up TTFT: {followup['followup_ttft_ms']}")
    at_once = measure_two_models(tokens=40 if bench.config.smoke else RATE_TOKENS)
    bench.progress(f"   two models at once: {at_once}")
    return {**followup, "two_models_at_once": at_once}


def _thread(model: LoadedModel, topic: str, tokens: int) -> list[Turn]:
    """A thread about ``topic`` whose prompt is about ``tokens`` long."""
    turns: list[Turn] = []
    while _prompt_length(model, turns) < tokens:
        n = len(turns)
        turns.append(
            Turn(
                speaker=("alice", "bob", "carol")[n % 3],
                text=f"Update {n} on {topic}: item {n} is on track, item {n + 1} needs a "
                f"decision by Friday, and the owner of item {n + 2} asked for help.",
            )
        )
    return turns


def _prompt_length(model: LoadedModel, turns: list[Turn]) -> int:
    return len(
        model.prompt_tokens(system=settings.LLM_SYSTEM_PROMPT, turns=turns, assistant_name="a")
    )


def ask(model: LoadedModel, turns: list[Turn], *, context: str = "") -> tuple[str, float]:
    """Answer ``turns`` (and ``context`` after them) at temperature 0; the answer and its
    time to first token (ms)."""
    pieces: list[str] = []
    result = infer(
        model,
        InferenceRequest(
            system=settings.LLM_SYSTEM_PROMPT,
            turns=turns,
            assistant_name="a",
            max_tokens=FOLLOW_UP_ANSWER_TOKENS,
            temperature=0.0,
            repeat_penalty=1.0,
            context=context,
        ),
        on_piece=pieces.append,
        should_stop=lambda: False,
    )
    return "".join(pieces), result.time_to_first_token_ms or float("nan")


def _forget(model: LoadedModel, capacity_bytes: int) -> None:
    """Nothing kept, nothing in the context: the next prompt is read from scratch."""
    model.engine.kept_states = KeptStates(capacity_bytes=capacity_bytes)


def measure_followups(model: LoadedModel, *, reps: int, thread_tokens: int) -> dict[str, Any]:
    capacity = settings.LLM_KEPT_STATES_MIB * 2**20
    thread = _thread(model, TOPICS[0], thread_tokens - 60)
    others = [_thread(model, topic, thread_tokens // IN_BETWEEN_DIVISOR) for topic in TOPICS[1:]]
    short = _thread(model, "lunch", 100)
    fresh, cold, warm, interleaved, kept_mib = [], [], [], [], []
    prompt_tokens = 0
    for _ in range(reps):
        _forget(model, capacity)
        fresh.append(ask(model, short)[1])
        _forget(model, capacity)
        answer, _ = ask(model, thread)
        kept_mib.append(model.engine.kept_states.size_bytes / 2**20)
        follow_up = [
            *thread,
            Turn(speaker="a", text=answer, is_assistant=True),
            Turn(speaker="alice", text="Which item needs a decision first?"),
        ]
        prompt_tokens = _prompt_length(model, follow_up)
        warm.append(ask(model, follow_up)[1])
        _forget(model, capacity)
        ask(model, thread)
        for other in others:
            ask(model, other)
        interleaved.append(ask(model, follow_up)[1])
        _forget(model, 0)
        cold.append(ask(model, follow_up)[1])
    _forget(model, capacity)
    return {
        "followup_ttft_ms": {
            "prompt_tokens": prompt_tokens,
            "fresh_short": r(statistics.median(fresh)),
            "cold": r(statistics.median(cold)),
            "warm": r(statistics.median(warm)),
            "warm_after_interleaving": r(statistics.median(interleaved)),
        },
        "kept_state_mib": r(statistics.median(kept_mib), 2),
    }


def measure_two_models(*, tokens: int) -> dict[str, Any]:
    """Tokens/s of each bundled model decoding alone, then both at once, in two processes,
    each with its share of the cores, as ``model_workers`` gives two workers."""
    from llm.services import models_register_bundled

    paths = {m.name: m.path for m in models_register_bundled() if m.available}
    if len(paths) < 2:
        return {"models": sorted(paths), "skipped": "a second bundled model is not installed"}
    threads = max(1, (os.cpu_count() or 1) // len(paths))
    alone = {name: _rates([path], tokens, threads)[0] for name, path in paths.items()}
    together = dict(zip(paths, _rates(list(paths.values()), tokens, threads), strict=True))
    return {
        "n_threads_each": threads,
        "tokens": tokens,
        "alone_tokens_per_s": {name: r(rate) for name, rate in alone.items()},
        "together_tokens_per_s": {name: r(rate) for name, rate in together.items()},
        "ratio_together_to_alone": {
            name: r(together[name] / alone[name], 2) for name in paths if alone[name]
        },
    }


def _rates(paths: list[str], tokens: int, threads: int) -> list[float]:
    """Start a decoder per model; once all are loaded, let them decode at the same moment."""
    decoders = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.decoder", path, str(tokens), str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for path in paths
    ]
    for decoder in decoders:
        assert decoder.stdout is not None
        assert decoder.stdout.readline().strip() == "loaded"
    for decoder in decoders:
        assert decoder.stdin is not None
        decoder.stdin.write("go\n")
        decoder.stdin.flush()
    rates = []
    for decoder in decoders:
        out, _ = decoder.communicate(timeout=600)
        rates.append(float(json.loads(out)["tokens_per_s"]))
    return rates
