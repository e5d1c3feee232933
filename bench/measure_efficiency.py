"""Figures 1 and 2: pipeline efficiency and time-to-first-token overhead.

Each measurement is a pair, run back to back on the same prompt: plain llama-cpp-python in the
bench process (worker idle), then the same question mentioned over a WebSocket, through daphne,
the database, Celery, the worker's model, the channel layer and back (bench process idle).

- tokens/s = (completion tokens - 1) / (time of the last piece - time of the first piece); for
  the client, the pieces are frames received (frame 1 is the first token, sent at once).
- TTFT: plain, from the call to the first piece; client, from sending the mention to frame 1.
- TTFT breakdown: the client's TTFT cut into the steps it went through (``TTFT_STEPS``): ``web``
  (the mention sent -> the answer's row written, ``Message.created_at``), the worker's own steps
  as it recorded them (``Generation.first_token_steps_ms``: ``queue`` ... ``first_frame``), and
  ``delivery`` (what is left: frame 1 published -> received by the client). Clients note
  ``time.monotonic()``; the bench turns it into wall-clock time to meet the database's stamps.
"""

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from chat.models import Message
from llm.prompt import Turn

from .context import Bench
from .reference import PlainRun, decode_rate, plain_run
from .schema import TTFT_STEPS
from .stats import percentile, r
from .world import history_seed

ANSWER_TIMEOUT_S = 180
SHORT_QUESTION = "@assistant in two sentences, what makes a good release name? (round {n})"
# With temperature 0 and no repeat penalty the tiny model keeps counting until max_tokens.
LONG_QUESTION = (
    "@assistant write the numbers from 1 to 1000 in words, one per line: one, two, three, ..."
)
LONG_THREAD_QUESTION = "@assistant summarise this thread in two sentences."
HISTORY_LINE = (
    "Status update {n}: the release train for sprint {n} is on track; QA found {m} minor bugs "
    "in the importer, the dashboard charts load faster after caching, and we still need a "
    "decision on the name and the date of the public announcement."
)


@dataclass
class PairedRun:
    label: str
    prompt_tokens_plain: int
    prompt_tokens_stack: int
    completion_tokens_plain: int
    completion_tokens_stack: int
    same_text: bool
    frames: int
    plain_tokens_per_s: float
    client_tokens_per_s: float
    plain_ttft_ms: float
    client_ttft_ms: float
    status: str
    ttft_breakdown_ms: dict[str, float]

    @property
    def efficiency(self) -> float:
        if not self.plain_tokens_per_s:
            return float("nan")
        return self.client_tokens_per_s / self.plain_tokens_per_s

    @property
    def ttft_overhead_ms(self) -> float:
        return self.client_ttft_ms - self.plain_ttft_ms

    def as_dict(self) -> dict[str, Any]:
        d = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        d["efficiency"] = r(self.efficiency, 3)
        d["ttft_overhead_ms"] = r(self.ttft_overhead_ms, 1)
        return d


def paired_run(bench: Bench, label: str, question: str, history: Sequence[str] = ()) -> PairedRun:
    """Plain reference first, then the same prompt through the stack."""
    world = bench.world
    speakers = world.members[1:4] or [world.asker]  # three people talking
    turns = [
        Turn(speaker=speakers[i % len(speakers)].username, text=body)
        for i, body in enumerate(history)
    ] + [Turn(speaker=world.asker.username, text=question)]
    plain = plain_run(bench.model, turns)

    thread = world.thread(f"{label} {time.monotonic():.3f}")
    history_seed(thread, world, list(history))
    pool = bench.pool
    pool.call(0, "close_all")
    opened = pool.call(
        0, "connect", urls=[bench.stack.ws_url(0, thread.pk)],
        cookies=[world.cookies[0]], count=1, parallel=1,
    )  # fmt: skip
    if opened["open"] != 1:
        raise RuntimeError(f"could not connect: {opened['errors']}")
    time.sleep(0.2)  # connect() joins the group just after the handshake
    sent_at = pool.call(0, "send", index=0, body=question)
    reply_id = pool.call(0, "wait_reply", index=0, min_frames=0, timeout=ANSWER_TIMEOUT_S)
    if reply_id is None:
        raise RuntimeError("no assistant reply was announced")
    status = pool.call(0, "wait_end", index=0, reply_id=reply_id, timeout=ANSWER_TIMEOUT_S)
    (events,) = pool.call(0, "collect", index=0, kinds=["frame"])
    pool.call(0, "close_all")
    frames = [(e[0], e[3]) for e in events if e[2] == reply_id]
    reply = Message.objects.get(pk=reply_id)
    # The clients' clock is time.monotonic() (one clock for every process on Linux); the
    # database's stamps are wall-clock time.
    sent_at_wall = sent_at + (time.time() - time.monotonic())
    return _pair(
        label, plain=plain, reply=reply, frames=frames, sent_at=sent_at,
        sent_at_wall=sent_at_wall, status=status or "timeout",
    )  # fmt: skip


def _pair(
    label: str,
    *,
    plain: PlainRun,
    reply: Message,
    frames: list[tuple[float, int]],
    sent_at: float,
    sent_at_wall: float,
    status: str,
) -> PairedRun:
    tokens = reply.generation.completion_tokens or 0
    first = frames[0][0] if frames else float("nan")
    client_ttft_ms = (first - sent_at) * 1000
    last = frames[-1][0] if frames else float("nan")
    return PairedRun(
        label=label,
        prompt_tokens_plain=plain.prompt_tokens,
        prompt_tokens_stack=reply.generation.prompt_tokens or 0,
        completion_tokens_plain=plain.completion_tokens,
        completion_tokens_stack=tokens,
        same_text=reply.body == plain.text,
        frames=len(frames),
        plain_tokens_per_s=plain.tokens_per_s,
        client_tokens_per_s=decode_rate(tokens, first, last) if frames else 0.0,
        plain_ttft_ms=plain.ttft_s * 1000,
        client_ttft_ms=client_ttft_ms,
        status=status,
        ttft_breakdown_ms=ttft_breakdown(reply, sent_at_wall=sent_at_wall, total_ms=client_ttft_ms),
    )


def ttft_breakdown(reply: Message, *, sent_at_wall: float, total_ms: float) -> dict[str, float]:
    """``total_ms`` (mention sent -> frame 1 received) cut into ``TTFT_STEPS``; empty when the
    worker recorded no steps (the answer failed before its first frame)."""
    steps = reply.generation.first_token_steps_ms or {}
    if not steps or math.isnan(total_ms):  # no frame arrived
        return {}
    web = (reply.created_at.timestamp() - sent_at_wall) * 1000
    breakdown = {"web": web, **steps}
    breakdown["delivery"] = total_ms - sum(breakdown.values())
    return {step: round(breakdown[step], 2) for step in TTFT_STEPS if step in breakdown}


def breakdown_medians(runs: Sequence[PairedRun]) -> dict[str, float | None]:
    """Each step's median over ``runs`` (the medians of the parts need not add up to the
    median of the whole)."""
    medians: dict[str, float | None] = {}
    for step in TTFT_STEPS:
        values = [run.ttft_breakdown_ms[step] for run in runs if step in run.ttft_breakdown_ms]
        medians[step] = r(percentile(values, 50)) if values else None
    return medians


def history_lines(count: int) -> list[str]:
    return [HISTORY_LINE.format(n=i + 1, m=(i * 7) % 5 + 1) for i in range(count)]


def best_ratio(runs: Sequence[PairedRun]) -> float:
    """Best client tokens/s over best plain tokens/s: the least disturbed run of each side.

    On a shared 2-core machine other processes slow either side at random; the best of several
    runs estimates each side's undisturbed speed. The median of per-pair ratios is reported too.
    """
    plain = max(run.plain_tokens_per_s for run in runs)
    return max(run.client_tokens_per_s for run in runs) / plain if plain else float("nan")


def short_runs(bench: Bench, *, reps: int, tag: str = "") -> list[PairedRun]:
    """A warm-up pair, then ``reps`` short answers, each question of its own round."""
    bench.progress(f"{tag}warm-up run (plain + stack)")
    paired_run(bench, "warm-up", SHORT_QUESTION.format(n=0))
    short: list[PairedRun] = []
    for n in range(1, reps + 1):
        run = paired_run(bench, "short", SHORT_QUESTION.format(n=n))
        bench.progress(
            f"{tag}short answer {n}/{reps}: {run.completion_tokens_stack} tokens, "
            f"{run.plain_tokens_per_s:.0f} tokens/s plain, {run.client_tokens_per_s:.0f} client; "
            f"TTFT {run.plain_ttft_ms:.0f} ms plain, {run.client_ttft_ms:.0f} ms client"
        )
        short.append(run)
    return short


def ttft_figures(short: Sequence[PairedRun]) -> dict[str, Any]:
    """Figure 2 from the short pairs: the overhead, its breakdown, both sides' TTFT."""
    overheads = [run.ttft_overhead_ms for run in short]
    return {
        "ttft_overhead_ms": {
            "p50": r(percentile(overheads, 50)),
            "p95": r(percentile(overheads, 95)),
        },
        "ttft_breakdown_ms": breakdown_medians(short),
        "ttft_ms": {
            "plain_p50": r(percentile([run.plain_ttft_ms for run in short], 50)),
            "client_p50": r(percentile([run.client_ttft_ms for run in short], 50)),
        },
    }


def measure_ttft(bench: Bench) -> dict[str, Any]:
    """Figure 2 alone (``python -m bench.run --only ttft``): the short pairs, no long answers."""
    bench.progress("2. time to first token: overhead and where it goes")
    bench.stack.start_worker()
    short = short_runs(bench, reps=bench.config.ttft_reps)
    figures = ttft_figures(short)
    bench.progress(f"   overhead {figures['ttft_overhead_ms']}")
    bench.progress(f"   breakdown {figures['ttft_breakdown_ms']}")
    return {
        "ttft_overhead_ms": figures["ttft_overhead_ms"],
        "ttft_breakdown_ms": figures["ttft_breakdown_ms"],
        "ttft_section": {
            "ttft_ms": figures["ttft_ms"],
            "runs": [run.as_dict() for run in short],
        },
    }


def measure(bench: Bench, *, reps: int, long_reps: int, tag: str = "") -> dict[str, Any]:
    """Efficiency (short, long answer, long thread) and TTFT overhead over ``reps`` short runs."""
    short = short_runs(bench, reps=reps, tag=tag)
    groups: dict[str, list[PairedRun]] = {"long_answer": [], "long_thread": []}
    for n in range(1, long_reps + 1):
        run = paired_run(bench, "long answer", LONG_QUESTION)
        groups["long_answer"].append(run)
        bench.progress(
            f"{tag}long answer {n}/{long_reps}: {run.completion_tokens_stack} tokens, "
            f"{run.plain_tokens_per_s:.0f} tokens/s plain, {run.client_tokens_per_s:.0f} client"
        )
        history = history_lines(bench.config.history_turns)
        run = paired_run(bench, "long thread", LONG_THREAD_QUESTION, history)
        groups["long_thread"].append(run)
        bench.progress(
            f"{tag}long thread {n}/{long_reps}: prompt {run.prompt_tokens_stack} tokens, "
            f"{run.completion_tokens_stack} answer tokens, {run.plain_tokens_per_s:.0f} tokens/s "
            f"plain, {run.client_tokens_per_s:.0f} client"
        )
    groups["short_answer"] = short
    return {
        "efficiency": {
            key: r(best_ratio(groups[key]), 3)
            for key in ("short_answer", "long_answer", "long_thread")
        },
        "efficiency_median_of_pairs": {
            key: r(percentile([run.efficiency for run in runs], 50), 3)
            for key, runs in groups.items()
        },
        **ttft_figures(short),
        "runs": [run.as_dict() for run in [*short, *groups["long_answer"], *groups["long_thread"]]],
    }
