"""The API: our /v1/chat/completions beside llama-cpp-python's own OpenAI-compatible server,
and an answer streamed over Server-Sent Events beside plain llama-cpp-python.

- OpenAI-compatible: the same model file, context, threads and prompt, streamed with the
  official ``openai`` client, alternately from our stack (daphne, the model's queue, its
  worker) and from ``python -m llama_cpp.server``: time to first content chunk, and tokens/s
  = (completion tokens - 1) / (last content chunk - first). Each round's prompt starts with
  its number, so neither side answers from a prompt it has cached whole.
- SSE efficiency: tokens/s of an answer as ``POST /api/threads/<id>/ask`` streams it to a
  client, over tokens/s of the same prompt in plain llama-cpp-python (the bench process).
"""

import json
import os
import statistics
import subprocess
import time
import urllib.request
from typing import Any

from django.conf import settings

from api.services import api_token_create
from harness.live_stack import processes_stop, server_start
from llm.model import model_spec_from_settings
from llm.prompt import Turn

from .context import Bench
from .reference import plain_run
from .stack import LOG_DIR
from .stats import r

QUESTION = "Round {n}: in about eight sentences, explain what a release checklist is for."
ANSWER_TOKENS = 160


def measure(bench: Bench) -> dict[str, Any]:
    bench.progress("11. API: /v1 beside llama_cpp.server, and SSE efficiency")
    rounds = 1 if bench.config.smoke else 5
    token = api_token_create(user=bench.world.members[0], name="bench")[1]
    if bench.stack.worker is None:
        bench.stack.start_worker()
    ours_url = f"http://127.0.0.1:{bench.stack.ports[0]}/v1"
    server, port = _llama_server_start()
    try:
        ours, theirs = [], []
        for n in range(rounds):
            ours.append(_streamed(ours_url, token, _model_name(), n))
            theirs.append(_streamed(f"http://127.0.0.1:{port}/v1", "none", "reference", n))
    finally:
        processes_stop([server])
    compat = {"ours": _summary(ours), "llama_cpp_server": _summary(theirs), "rounds": rounds}
    bench.progress(f"   /v1: {compat}")
    sse = measure_sse(bench, token, reps=1 if bench.config.smoke else 3)
    bench.progress(f"   SSE: {sse}")
    return {"openai_compat": compat, "sse_efficiency": sse.pop("efficiency"), "sse": sse}


def _model_name() -> str:
    spec = model_spec_from_settings()
    return spec.name or spec.path.stem


def _llama_server_start() -> tuple[subprocess.Popen[bytes], int]:
    """llama-cpp-python's own server, started as the harness starts daphne (its log in
    var/bench-logs/llama-cpp-server.log); it listens once the model is loaded."""
    return server_start("llama-cpp-server", _server_args, dict(os.environ), log_dir=LOG_DIR)


def _server_args(port: int) -> list[str]:
    """llama_cpp.server on ``port`` (``python -m`` arguments), with the same model settings
    as our workers."""
    spec = model_spec_from_settings()
    options = {
        "--model": str(spec.path),
        "--model_alias": "reference",
        "--n_ctx": str(spec.n_ctx),
        "--n_threads": str(spec.n_threads),
        "--host": "127.0.0.1",
        "--port": str(port),
    }
    return ["llama_cpp.server", *(part for option in options.items() for part in option)]


def _streamed(base_url: str, api_key: str, model: str, n: int) -> dict[str, float]:
    """One streamed completion, timed as the ``openai`` client sees it."""
    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=300)
    started = time.perf_counter()
    first = last = 0.0
    tokens = 0
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": QUESTION.format(n=n)}],
        max_tokens=ANSWER_TOKENS,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = 0
    for chunk in stream:
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
        if chunk.choices and chunk.choices[0].delta.content:
            last = time.perf_counter()
            first = first or last
            chunks += 1
    # llama_cpp.server sends no usage when streaming, but one chunk per token.
    tokens = tokens or chunks
    return {
        "ttft_ms": (first - started) * 1000,
        "tokens_per_s": (tokens - 1) / (last - first) if last > first else float("nan"),
        "completion_tokens": tokens,
    }


def _summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    return {
        "ttft_ms_p50": r(statistics.median(run["ttft_ms"] for run in runs)),
        "tokens_per_s": r(statistics.median(run["tokens_per_s"] for run in runs), 2),
        "completion_tokens": [int(run["completion_tokens"]) for run in runs],
    }


def measure_sse(bench: Bench, token: str, *, reps: int) -> dict[str, Any]:
    """Tokens/s reaching an SSE client over tokens/s of plain llama-cpp-python, paired."""
    asker, pairs = bench.world.members[0], []
    for n in range(reps):
        body = f"@{settings.ASSISTANT_NAME} {QUESTION.format(n=100 + n)}"
        plain = plain_run(bench.model, [Turn(speaker=asker.get_username(), text=body)])
        thread = bench.world.thread(f"SSE efficiency {n}")  # the question alone in its thread
        client = _sse_ask(bench, token, thread.pk, body)
        pairs.append({
            "plain_tokens_per_s": r(plain.tokens_per_s, 2),
            "sse_tokens_per_s": r(client, 2),
        })  # fmt: skip
    ratios = [
        p["sse_tokens_per_s"] / p["plain_tokens_per_s"]
        for p in pairs
        if p["sse_tokens_per_s"] and p["plain_tokens_per_s"]
    ]
    return {"efficiency": r(statistics.median(ratios), 3), "pairs": pairs}


def _sse_ask(bench: Bench, token: str, thread_id: int, body: str) -> float:
    """Ask over SSE; tokens/s between the first and the last chunk, by the answer's count."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{bench.stack.ports[0]}/api/threads/{thread_id}/ask",
        data=json.dumps({"body": body}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    first = last = 0.0
    event, done = "", {}
    with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - http://127.0.0.1
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: ") and event == "chunk":
                last = time.perf_counter()
                first = first or last
            elif line.startswith("data: ") and event in ("done", "error"):
                done = json.loads(line[len("data: ") :])
                break
    tokens = (done.get("message", {}).get("statistics") or {}).get("completion_tokens") or 0
    return (tokens - 1) / (last - first) if last > first else float("nan")
