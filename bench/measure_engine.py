"""Several people asking at once: our stack beside a plain batched llama-cpp-python loop.

- *limit*: in the bench process (the worker idle, or not running), llama-cpp-python's
  low-level API and nothing else: the default model, one context for N sequences
  (``n_seq_max`` = N, unified KV, N times the model's context), the N prompts read first,
  then one ``llama_decode`` per step holding one token of every sequence, greedy, for a
  fixed number of tokens each (end tokens ignored, so every sequence decodes as many).
  Aggregate tokens/s of that decode phase: N x tokens ÷ (the first decode after the prompts
  → the last sample). What the model can give N sequences together on this machine: the
  ceiling for ours.
- *ours*: N members each ask in a thread of their own, at the same moment, through the real
  stack: ``POST /api/threads/<id>/ask`` streamed as Server-Sent Events by daphne, the model
  worker decoding the N answers together. Each thread's ``max_tokens_override`` makes every
  answer as long as the limit's (the question has the tiny model count, so it never ends by
  itself first). Aggregate tokens/s = the answers' completion tokens summed ÷ (the common start
  → the end of the last answer); each asker's TTFT = their request sent → its first chunk
  received, client side; p50 and the worst over the N. Each asker's TTFT is also cut into the
  stack's steps (figure 2's breakdown), and the CPU each part of the stack used per answer
  token is kept beside it: where several people asking at once wait, and where the cores go.

The prompts are the same on both sides: the worker's own (``LoadedModel.prompt_tokens`` with
the chat template) for the same people and questions. Up to the default number of slots the
worker runs with its default settings; for more askers it is restarted with ``LLM_SLOTS`` and
``LLM_WORKER_SLOTS`` equal to the count.
"""

import json
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psutil
from django.conf import settings
from django.contrib.auth.models import User
from django.test import override_settings

from api.services import api_token_create
from chat.models import Message
from llm.engine import EngineJob, Sampling
from llm.model import LoadedModel, model_spec_from_settings, spec_slots, worker_threads
from llm.prompt import Turn

from .context import Bench
from .measure_efficiency import ttft_breakdown
from .reference import prompt_for, reference_model
from .stats import percentile, r

# The tiny model keeps counting (temperature 0, no repeat penalty) until max_tokens.
QUESTION = (
    "@{assistant} round {n}: write the numbers from 1 to 1000 in words, one per line: "
    "one, two, three, ..."
)
ANSWER_TIMEOUT_S = 300


@dataclass
class Ask:
    """One asker's answer as their client saw it (times from ``time.monotonic``)."""

    sent_at: float = 0.0
    sent_at_wall: float = 0.0  # the same moment by ``time.time``, to compare with the worker's
    first_chunk_at: float = 0.0
    ended_at: float = 0.0
    completion_tokens: int = 0
    reply_id: int | None = None
    outcome: str = ""  # the last SSE event: "done", "error", or the exception's name


def measure(bench: Bench) -> dict[str, Any]:
    config = bench.config
    counts, tokens = config.engine_askers, config.engine_tokens
    slots = spec_slots(model_spec_from_settings())
    bench.progress(f"13. several people asking at once: {counts}, {tokens} tokens each")
    askers = _askers(bench, max(counts))
    questions = {n: [_question(n, k) for k in range(n)] for n in counts}
    model = bench.model
    prompts = {
        n: [
            prompt_for(model, [Turn(speaker=askers[k][0].get_username(), text=question)])
            for k, question in enumerate(questions[n])
        ]
        for n in counts
    }
    if bench.stack.worker_env:  # a worker with other settings: not one to keep
        bench.stack.stop_worker()
    # In the bench process, beside an idle worker at most (as every plain run of the bench).
    limit = limit_measure([prompts[n] for n in counts], tokens=tokens)
    bench.progress(
        f"   limit (plain batched loop), tokens/s: {dict(zip(counts, limit, strict=True))}"
    )
    warm_up = f"@{_name()} warm-up: say hello."
    alone = {}
    for n in counts:
        warm_up_turn = Turn(speaker=askers[-1][0].get_username(), text=warm_up)
        alone[str(n)] = _alone_with_slots(prompts[n], warm_up_turn, max(slots, n), tokens=tokens)
        bench.progress(f"   our engine alone, {n} at once: {alone[str(n)]}")
    bench.model = reference_model()  # with the default settings again
    ours: dict[str, dict[str, Any]] = {}
    runs: dict[str, list[dict[str, Any]]] = {}
    cpu_ms: dict[str, dict[str, float | None]] = {}
    model_threads = worker_threads(model_spec_from_settings().n_threads)
    worker_slots = 0
    for n in counts:
        if max(slots, n) != worker_slots:
            worker_slots = max(slots, n)
            _worker_with(bench, slots=worker_slots, default=slots)
            _ask_at_once(bench, [askers[-1]], [warm_up], 4)
        cpu_before = cpu_seconds(bench)
        asks = _ask_at_once(bench, askers[:n], questions[n], tokens)
        ours[str(n)] = _summary(asks)
        runs[str(n)] = [_ask_row(ask, asks) for ask in asks]
        cpu_ms[str(n)] = cpu_per_token(
            cpu_before, cpu_seconds(bench), model_threads=model_threads, asks=asks
        )
        bench.progress(f"   CPU ms per token, {n} at once: {cpu_ms[str(n)]}")
        bench.progress(f"   ours, {n} at once (worker slots {worker_slots}): {ours[str(n)]}")
    bench.stack.stop_worker()
    return {
        "engine": {
            "slots": slots,
            "limit": {str(n): r(rate, 1) for n, rate in zip(counts, limit, strict=True)},
            "ours": ours,
        },
        "engine_details": {
            "answer_tokens": tokens,
            "prompt_tokens": {str(n): [len(p) for p in prompts[n]] for n in counts},
            "limit_gain_1_to_4": _gain(limit, counts),
            "asks": runs,
            "cpu_ms_per_token": cpu_ms,
            "engine_alone": alone,
        },
    }


def _worker_with(bench: Bench, *, slots: int, default: int) -> None:
    """A worker decoding ``slots`` answers at once: the running one if it has the default
    settings and ``slots`` is the default, else one (re)started with LLM_SLOTS and
    LLM_WORKER_SLOTS set."""
    extra = {} if slots == default else {"LLM_SLOTS": str(slots), "LLM_WORKER_SLOTS": str(slots)}
    if bench.stack.worker is None or bench.stack.worker_env != extra:
        bench.stack.start_worker(**extra)


def _name() -> str:
    return str(settings.ASSISTANT_NAME)


def _question(n: int, k: int) -> str:
    return QUESTION.format(assistant=_name(), n=f"{n}.{k + 1}")


def _gain(limit: Sequence[float], counts: Sequence[int]) -> float | None:
    by_count = dict(zip(counts, limit, strict=True))
    if 1 not in by_count or 4 not in by_count or not by_count[1]:
        return None
    return r(by_count[4] / by_count[1], 2)


def _askers(bench: Bench, count: int) -> list[tuple[User, str]]:
    """``count`` members (the last one also warms the worker up), each with an API token."""
    members = bench.world.members
    people = [members[k % len(members)] for k in range(count)]
    return [(person, api_token_create(user=person, name="bench engine")[1]) for person in people]


# The limit: a plain batched loop.


def limit_measure(prompt_sets: Sequence[Sequence[Sequence[int]]], *, tokens: int) -> list[float]:
    """Aggregate decode tokens/s of each set of prompts decoded together (one context per
    set), on the default model loaded once with llama-cpp-python's low-level API."""
    import llama_cpp as lib

    spec = model_spec_from_settings()
    params = lib.llama_model_default_params()
    params.n_gpu_layers = spec.n_gpu_layers
    model = lib.llama_model_load_from_file(str(spec.path).encode(), params)
    if not model:
        raise RuntimeError(f"llama.cpp could not load {spec.path}")
    try:
        threads = worker_threads(spec.n_threads)
        return [
            _batched_decode(lib, model, prompts, tokens=tokens, n_ctx=spec.n_ctx, threads=threads)
            for prompts in prompt_sets
        ]
    finally:
        lib.llama_model_free(model)


def _batched_decode(
    lib: Any,
    model: Any,
    prompts: Sequence[Sequence[int]],
    *,
    tokens: int,
    n_ctx: int,
    threads: int,
) -> float:
    n = len(prompts)
    batch_size = 512
    if max(len(p) for p in prompts) > batch_size:
        raise ValueError("a prompt is longer than one batch")
    params = lib.llama_context_default_params()
    params.n_ctx = n * n_ctx
    params.n_batch = batch_size
    params.n_ubatch = batch_size
    params.n_seq_max = n
    params.n_threads = threads
    params.n_threads_batch = threads
    params.kv_unified = True
    ctx = lib.llama_init_from_model(model, params)
    if not ctx:
        raise RuntimeError(f"llama.cpp could not make a context for {n} sequences")
    batch = lib.llama_batch_init(batch_size, 0, 1)
    greedy = lib.llama_sampler_init_greedy()

    def decode(rows: Sequence[tuple[int, int, int, bool]]) -> None:
        batch.n_tokens = len(rows)
        for i, (seq, token, pos, logits) in enumerate(rows):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = logits
        status = lib.llama_decode(ctx, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode failed ({status}) with {n} sequences")

    try:
        following, positions = [], []
        for seq, prompt in enumerate(prompts):  # the prompts, one decode each: not timed
            last = len(prompt) - 1
            decode([(seq, token, pos, pos == last) for pos, token in enumerate(prompt)])
            following.append(lib.llama_sampler_sample(greedy, ctx, last))
            positions.append(len(prompt))
        started = time.perf_counter()
        for _ in range(tokens):
            decode([(seq, following[seq], positions[seq], True) for seq in range(n)])
            for seq in range(n):
                following[seq] = lib.llama_sampler_sample(greedy, ctx, seq)
                positions[seq] += 1
        elapsed = time.perf_counter() - started
    finally:
        lib.llama_sampler_free(greedy)
        lib.llama_batch_free(batch)
        lib.llama_free(ctx)
    return n * tokens / elapsed


# Between the two: our engine alone.


def alone_measure(
    model: LoadedModel, prompts: Sequence[Sequence[int]], *, tokens: int
) -> dict[str, float | None]:
    """Our engine on the same prompts in this process, without the stack (no web, broker,
    database or frames): figures as ours counts them (the N answers' tokens ÷ the common start
    → the last end, and each one's TTFT). Between the limit and ours, it tells the engine's
    own cost from the stack's; the worker is idle meanwhile."""
    sampling = Sampling(temperature=0.0, repeat_penalty=1.0)
    asks = [Ask() for _ in prompts]
    readers = []
    for prompt, ask in zip(prompts, asks, strict=True):
        ask.sent_at = time.monotonic()
        job = model.engine.submit(EngineJob(prompt, max_tokens=tokens, sampling=sampling))
        readers.append(threading.Thread(target=_engine_read, args=(job, ask)))
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join(ANSWER_TIMEOUT_S)
    return _summary(asks)


def _alone_with_slots(
    prompts: Sequence[Sequence[int]], warm_up: Turn, slots: int, *, tokens: int
) -> dict[str, float | None]:
    """``alone_measure`` on an engine of ``slots`` sequences that first answered ``warm_up``
    (as the worker: the instructions are kept from a first answer)."""
    with override_settings(LLM_SLOTS=slots):
        engine = reference_model()
        alone_measure(engine, [prompt_for(engine, [warm_up])], tokens=4)
        return alone_measure(engine, prompts, tokens=tokens)


def _engine_read(job: EngineJob, ask: Ask) -> None:
    """Read ``job`` as a model job does (a piece per frame), noting when its text came."""
    for _ in job.pieces(gather_s=settings.LLM_FRAME_INTERVAL_S):
        ask.first_chunk_at = ask.first_chunk_at or time.monotonic()
    ask.ended_at = time.monotonic()
    ask.completion_tokens = job.figures.completion_tokens


# Ours: people asking through the stack.


def _ask_at_once(
    bench: Bench, askers: Sequence[tuple[User, str]], questions: Sequence[str], tokens: int
) -> list[Ask]:
    """Each asker asks in a thread of their own, all at the same moment (a barrier)."""
    threads = []
    for (person, _), question in zip(askers, questions, strict=True):
        thread = bench.world.thread(f"{question[:40]} ({person.get_username()})")
        thread.max_tokens_override = tokens
        thread.save(update_fields=["max_tokens_override"])
        threads.append(thread.pk)
    asks = [Ask() for _ in askers]
    barrier = threading.Barrier(len(askers))
    workers = [
        threading.Thread(
            target=_sse_ask,
            args=(ask,),
            kwargs={
                "port": bench.stack.ports[0],
                "thread_id": thread_id,
                "token": token,
                "body": question,
                "barrier": barrier,
            },
            name=f"asker-{k}",
        )
        for k, (thread_id, (_, token), question, ask) in enumerate(
            zip(threads, askers, questions, asks, strict=True)
        )
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(ANSWER_TIMEOUT_S + 10)
    failed = [ask.outcome or "no end" for ask in asks if ask.outcome != "done"]
    failed += ["no text" for ask in asks if ask.outcome == "done" and not ask.first_chunk_at]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(asks)} answers did not end well: {failed}")
    return asks


def _sse_ask(
    ask: Ask, *, port: int, thread_id: int, token: str, body: str, barrier: threading.Barrier
) -> None:
    """Ask once the others are ready too; ``ask`` fills in as the answer streams."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/threads/{thread_id}/ask",
        data=json.dumps({"body": body}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    event = ""
    try:
        barrier.wait(timeout=30)
        ask.sent_at, ask.sent_at_wall = time.monotonic(), time.time()
        with urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT_S) as response:  # noqa: S310 - http://127.0.0.1
            for raw in response:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[len("event: ") :]
                elif line.startswith("data: ") and event == "chunk":
                    ask.first_chunk_at = ask.first_chunk_at or time.monotonic()
                elif line.startswith("data: ") and event in ("done", "error"):
                    ask.ended_at = time.monotonic()
                    done = json.loads(line[len("data: ") :])
                    message = done.get("message", {})
                    ask.reply_id = message.get("id")
                    statistics = message.get("statistics") or {}
                    ask.completion_tokens = statistics.get("completion_tokens") or 0
                    ask.outcome = event
                    break
    except Exception as exc:  # reported by the caller with the others
        ask.outcome = f"{type(exc).__name__}: {exc}"


CpuSeconds = dict[str, dict[int, float]]  # part of the stack -> thread or process -> seconds


def cpu_seconds(bench: Bench) -> CpuSeconds:
    """CPU seconds used so far by each thread of the worker, and by each other process of the
    stack: daphne (the one the askers use), the embedded Redis, and this process (the askers'
    client threads)."""

    def used(process: psutil.Process) -> float:
        times = process.cpu_times()
        return float(times.user + times.system)

    worker = bench.stack.worker_process()
    assert worker is not None
    here = psutil.Process()
    redis = [p for p in here.children() if p.name().startswith("redis")]
    return {
        "worker": {t.id: t.user_time + t.system_time for t in worker.threads()},
        "daphne": {0: used(bench.stack.web_process(0))},
        "redis": {p.pid: used(p) for p in redis},
        "clients": {0: used(here)},
    }


def cpu_per_token(
    before: CpuSeconds, after: CpuSeconds, *, model_threads: int, asks: Sequence[Ask]
) -> dict[str, float | None]:
    """Where the cores went while ``asks`` were answered, in CPU ms per answer token: the
    model's threads (the worker's ``model_threads`` busiest: llama.cpp's, which decode), the
    worker's other threads (jobs, frames, the broker), daphne, Redis and the clients; and how
    many cores all of them kept busy on average."""

    def spent(part: str) -> list[float]:
        return [seconds - before[part].get(key, 0.0) for key, seconds in after[part].items()]

    worker = sorted(spent("worker"), reverse=True)
    parts = {
        "model_threads": sum(worker[:model_threads]),
        "worker_other_threads": sum(worker[model_threads:]),
        "daphne": sum(spent("daphne")),
        "redis": sum(spent("redis")),
        "clients": sum(spent("clients")),
    }
    tokens = sum(ask.completion_tokens for ask in asks) or 1
    wall_s = max(a.ended_at for a in asks) - min(a.sent_at for a in asks)
    return {
        **{part: r(seconds * 1000 / tokens, 2) for part, seconds in parts.items()},
        "cores_busy": r(sum(parts.values()) / wall_s, 2),
    }


def _summary(asks: Sequence[Ask]) -> dict[str, float | None]:
    start = min(ask.sent_at for ask in asks)
    end = max(ask.ended_at for ask in asks)
    ttfts = [(ask.first_chunk_at - ask.sent_at) * 1000 for ask in asks]
    return {
        "tokens_per_s": r(sum(ask.completion_tokens for ask in asks) / (end - start), 1),
        "ttft_ms_p50": r(percentile(ttfts, 50)),
        "ttft_ms_max": r(max(ttfts)),
    }


def _ask_row(ask: Ask, asks: Sequence[Ask]) -> dict[str, Any]:
    """One asker's figures, with their TTFT cut into the steps it went through (as the
    efficiency section's ``ttft_breakdown_ms``): which of the stack's steps several people
    asking at once wait in."""
    start = min(a.sent_at for a in asks)
    decode_s = ask.ended_at - ask.first_chunk_at
    ttft_ms = (ask.first_chunk_at - ask.sent_at) * 1000
    reply = (
        Message.objects.select_related("generation").filter(pk=ask.reply_id).first()
        if ask.reply_id is not None
        else None
    )
    return {
        "sent_s": r(ask.sent_at - start, 3),
        "ttft_ms": r(ttft_ms),
        "ttft_breakdown_ms": (
            ttft_breakdown(reply, sent_at_wall=ask.sent_at_wall, total_ms=ttft_ms) if reply else {}
        ),
        "ended_s": r(ask.ended_at - start, 3),
        "completion_tokens": ask.completion_tokens,
        "tokens_per_s": r((ask.completion_tokens - 1) / decode_s, 1) if decode_s > 0 else None,
    }
