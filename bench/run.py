"""`make bench`: run every figure of issue #4 on the real stack, write results and plots.

    python -m bench.run                 # full run: bench/results.json and bench/*.png
    python -m bench.run --smoke --out var/bench-smoke.json   # seconds-scale CI version

The bench gets its own database, Redis and processes (see bench/environment.py), starts two
daphne processes and the model worker, and drives clients from separate processes.
"""

import argparse
import gc
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import environment
from .clients import ClientPool, raise_open_files_limit

if TYPE_CHECKING:
    from .context import Bench

BENCH_DIR = Path(__file__).resolve().parent
SMOKE_MAX_TOKENS = 48
# The smoke checks that every section runs, not how fast: one model thread, so that CI can run
# it beside the tests (two llama.cpp threads spin against everything else on 2 cores).
SMOKE_MODEL_THREADS = 1
QUIET_WAIT_S = 300


def other_model_processes() -> list[str]:
    """Other processes that run llama.cpp on this machine (model workers, live tests)."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "celery" in cmdline and "-Q llm" in cmdline:
            found.append(f"{process.info['pid']}: {cmdline[:80]}")
    return found


def wait_for_quiet_machine(*, timeout_s: float) -> list[str]:
    """Wait (up to ``timeout_s``) until no other model worker runs: with 2 cores, a second
    llama.cpp process makes every tokens/s figure meaningless. Returns what was still running."""
    deadline = time.monotonic() + timeout_s
    busy = other_model_processes()
    while busy and time.monotonic() < deadline:
        print(f"==> waiting for other model processes to end: {busy}", flush=True)
        time.sleep(5)
        busy = other_model_processes()
    if busy:
        print(f"==> WARNING: measuring next to other model processes: {busy}", flush=True)
    return busy


# What --only runs: one section of the whole run, alone.
SECTIONS = [
    "documents", "models", "api", "knowledge", "engine", "ttft", "navigation", "fanout", "soak",
    "outages",
]  # fmt: skip

# What a section alone returns beside its figures, and where it goes under "details".
SECTION_DETAILS = {
    "assistant_document": "assistant_document",
    "engine_details": "engine",
    "ttft_section": "ttft_section",
    "navigation_details": "navigation",
    "fanout_section": "memory",
    "soak_details": "soak",
    "outages_details": "outages",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny N, few runs, short answers")
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results.json")
    parser.add_argument("--plots", type=Path, help="where the PNGs go (default: next to --out)")
    parser.add_argument(
        "--only",
        choices=SECTIONS,
        help="run one section and update its figures in --out, keeping the others",
    )
    parser.add_argument(
        "--soak-minutes",
        type=float,
        help="minutes of waves after the soak's warm-up (10; 0 with --smoke: the warm-up alone)",
    )
    args = parser.parse_args(argv)
    raise_open_files_limit()
    # The smoke measures nothing (CI runs it beside the tests' model workers), and the soak
    # measures memory, not speed: other model processes only slow them down.
    busy = wait_for_quiet_machine(
        timeout_s=0 if args.smoke else 30 if args.only == "soak" else QUIET_WAIT_S
    )
    env = environment.prepare(
        max_tokens=SMOKE_MAX_TOKENS if args.smoke else None,
        model_threads=SMOKE_MODEL_THREADS if args.smoke else None,
    )
    try:
        if args.only:
            results = json.loads(args.out.read_text())
            measured = _run_section(
                args.only,
                smoke=args.smoke,
                previous=results,
                soak_minutes=args.soak_minutes,
                env=env,
            )
            for key, detail in SECTION_DETAILS.items():
                if key in measured:
                    results["details"][detail] = measured.pop(key)
            if "per_token_fanout" in measured:
                per_token = measured.pop("per_token_fanout")
                results["baselines"]["per_token_sends"]["fanout"] = per_token
            results.update(measured)
        else:
            results = _run(smoke=args.smoke, env=env)
            results["machine"]["other_model_processes_at_start"] = busy
    finally:
        env.close()
    default_plots = (
        BENCH_DIR if args.out.resolve().parent == BENCH_DIR else args.out.with_suffix("")
    )
    return _write(results, args.out, args.plots or default_plots)


def _run(*, smoke: bool, env: environment.BenchEnvironment) -> dict[str, Any]:
    import django

    django.setup()
    from . import (
        measure_api,
        measure_chat,
        measure_db_writes,
        measure_documents,
        measure_efficiency,
        measure_engine,
        measure_fanout,
        measure_knowledge,
        measure_long_thread,
        measure_models,
        measure_navigation,
        measure_outages,
        measure_polling,
    )
    from .context import Bench, Config
    from .reference import models_free, reference_model
    from .stack import BenchStack
    from .world import world_create

    config = Config.for_run(smoke=smoke)
    load_before = os.getloadavg()
    print(f"==> bench ({'smoke' if smoke else 'full'}): {env.database}, Redis {env.redis}")
    world = world_create(members=max(config.chat_members, *config.engine_askers, 2))
    model = reference_model()
    pool = ClientPool(config.client_processes)
    stack = BenchStack(web_processes=2)
    bench = Bench(config=config, world=world, stack=stack, pool=pool, model=model)
    try:
        bench.progress("model worker starting (coalesced frames, LLM_FRAME_INTERVAL_S=0.04)")
        stack.start_worker()
        bench.progress("1-2. efficiency and time to first token")
        generation = measure_efficiency.measure(
            bench, reps=config.ttft_reps, long_reps=config.long_reps
        )
        bench.progress("6b. stop latency")
        stop = measure_db_writes.measure_stop(bench, reps=1 if smoke else 5)
        long_plain = max(
            run["plain_tokens_per_s"] for run in generation["runs"] if run["label"] == "long answer"
        )
        bench.progress("7b. baseline: polling every 250 ms")
        polling = measure_polling.measure(bench, plain_tokens_per_s=long_plain)
        bench.progress("7a. baseline: one group message per token (LLM_FRAME_INTERVAL_S=0)")
        stack.start_worker(LLM_FRAME_INTERVAL_S="0")
        per_token = measure_efficiency.measure(
            bench, reps=config.per_token_reps, long_reps=1, tag="per-token: "
        )
        bench.progress("1c. efficiency with one model thread: a core left for the pipeline")
        one_thread = generation if smoke else _one_model_thread(bench)  # the smoke's has one
        stack.stop_worker()
        bench.progress("6. database writes per generation (reply_generate in the bench process)")
        writes = measure_db_writes.measure_writes(bench)
        bench.progress(f"   {writes['writes']} writes in {writes['generation_s']} s")
        bench.progress("3, 5. fan-out and memory per connection")
        fanout = measure_fanout.measure(bench, per_token_rate_hz=long_plain)
        bench.progress("4. human chat latency")
        chat = measure_chat.measure(bench)
        bench.progress(f"   p50 {chat['p50']} ms, p99 {chat['p99']} ms at {chat['members']}")
        bench.progress(f"8. a thread of {config.long_thread_messages} messages: open, reconnect")
        long_thread = measure_long_thread.measure(bench)
        documents, models, api, engine, knowledge, navigation = (
            measure_documents.measure(bench),
            measure_models.measure(bench),
            measure_api.measure(bench),
            measure_engine.measure(bench),
            measure_knowledge.measure(bench),
            measure_navigation.measure(bench),
        )
        outages = measure_outages.measure(bench, env)
    finally:
        pool.shutdown()
        stack.close()
        models_free()
        del model, bench
        gc.collect()
    return {
        "machine": _machine(load_before),
        "model": model_name(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "smoke": smoke,
        "environment": {"database": env.database, "redis": env.redis},
        "settings": dict(environment.MODEL_ENV, LLM_MAX_TOKENS=os.environ["LLM_MAX_TOKENS"]),
        "efficiency": generation["efficiency"],
        "efficiency_one_model_thread": one_thread["efficiency"],
        "ttft_overhead_ms": generation["ttft_overhead_ms"],
        "ttft_breakdown_ms": generation["ttft_breakdown_ms"],
        "fanout": fanout["fanout"],
        "fanout_slower_frames": fanout["slower_frames_fanout"],
        "chat_latency_ms": chat,
        "memory_per_connection_kib": fanout["memory"]["per_connection_kib"],
        "db_writes_per_generation": writes,
        "stop_latency_ms": stop,
        **long_thread,
        "navigation_ms": navigation["navigation_ms"],
        "outages": outages["outages"],
        "document_edit_propagation_ms": documents["document_edit_propagation_ms"],
        "document_open_ms": documents["document_open_ms"],
        "assistant_document_efficiency": documents["assistant_document_efficiency"],
        **models,
        **api,
        "engine": engine["engine"],
        **knowledge,
        "baselines": {
            "per_token_sends": {
                "efficiency": per_token["efficiency"],
                "ttft_overhead_ms": per_token["ttft_overhead_ms"],
                "efficiency_median_of_pairs": per_token["efficiency_median_of_pairs"],
                "fanout": fanout["per_token_fanout"],
            },
            "polling_250ms": polling,
        },
        "details": {
            "efficiency_median_of_pairs": generation["efficiency_median_of_pairs"],
            "ttft_ms": generation["ttft_ms"],
            "generation_runs": generation["runs"],
            "per_token_generation_runs": per_token["runs"],
            "one_model_thread_generation_runs": one_thread["runs"],
            "memory": fanout["memory"],
            "assistant_document": documents["assistant_document"],
            "engine": engine["engine_details"],
            "navigation": navigation["navigation_details"],
            "outages": outages["outages_details"],
        },
    }


def _run_section(
    section: str,
    *,
    smoke: bool,
    previous: dict[str, Any],
    soak_minutes: float | None,
    env: environment.BenchEnvironment,
) -> dict[str, Any]:
    """One section alone (``--only documents``, ``--only engine``...), with when it ran;
    ``previous``: the results it updates (the fan-out's per-token baseline streams at the
    plain model's rate they hold)."""
    import dataclasses

    import django

    django.setup()
    from . import (
        measure_api,
        measure_documents,
        measure_efficiency,
        measure_engine,
        measure_knowledge,
        measure_models,
        measure_navigation,
        measure_outages,
        measure_soak,
    )
    from .context import Bench, Config
    from .reference import models_free, reference_model
    from .stack import BenchStack
    from .world import world_create

    config = Config.for_run(smoke=smoke)
    if soak_minutes is not None:
        config = dataclasses.replace(config, soak_minutes=soak_minutes)
    load_before = os.getloadavg()
    world = world_create(
        members=max(
            max(config.document_editors) + 1,
            config.chat_members,
            *config.engine_askers,
            config.soak_sockets,
        )
    )
    stack = BenchStack(web_processes=2)
    bench = Bench(
        config=config,
        world=world,
        stack=stack,
        pool=ClientPool(config.client_processes),
        model=reference_model(),
    )
    try:
        measure = {
            "documents": measure_documents.measure,
            "models": measure_models.measure,
            "api": measure_api.measure,
            "knowledge": measure_knowledge.measure,
            "engine": measure_engine.measure,
            "ttft": measure_efficiency.measure_ttft,
            "navigation": measure_navigation.measure,
            "fanout": lambda bench: _fanout_section(bench, previous),
            "soak": measure_soak.measure,
            "outages": lambda bench: measure_outages.measure(bench, env),
        }[section]
        measured = measure(bench)
    finally:
        bench.pool.shutdown()
        stack.close()
        models_free()  # freed while the interpreter is whole
        gc.collect()
    # This section ran apart from the others: say when, and how busy the machine was.
    ran = {
        "section_run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_before": [round(x, 2) for x in load_before],
    }
    where = {
        "documents": "assistant_document",
        "models": "two_models_at_once",
        "api": "sse",
        "knowledge": "ingestion",
        "engine": "engine_details",  # "engine" itself keeps its exact shape
        "ttft": "ttft_section",
        "navigation": "navigation_details",
        "fanout": "fanout_section",
        "soak": "soak_details",
        "outages": "outages_details",
    }
    measured[where[section]].update(ran)
    return measured


def _fanout_section(bench: "Bench", previous: dict[str, Any]) -> dict[str, Any]:
    """The fan-out figures alone, in the shape the whole run gives them."""
    from . import measure_fanout

    long_plain = max(
        run["plain_tokens_per_s"]
        for run in previous["details"]["generation_runs"]
        if run["label"] == "long answer"
    )
    fanout = measure_fanout.measure(bench, per_token_rate_hz=long_plain)
    return {
        "fanout": fanout["fanout"],
        "fanout_slower_frames": fanout["slower_frames_fanout"],
        "memory_per_connection_kib": fanout["memory"]["per_connection_kib"],
        "per_token_fanout": fanout["per_token_fanout"],
        "fanout_section": fanout["memory"],
    }


def _one_model_thread(bench: "Bench") -> dict[str, Any]:
    """Efficiency with LLM_N_THREADS=1 on both sides: llama.cpp no longer claims every core.

    On 2 cores with 2 model threads, every other runnable thread (daphne, Redis, the client,
    the worker's sender) pre-empts one of llama.cpp's, and the other waits for it; with one
    model thread the pipeline has a core of its own, as it does beside a GPU worker.
    """
    from django.test import override_settings

    from .measure_efficiency import measure
    from .reference import reference_model

    bench.stack.start_worker(LLM_N_THREADS="1")
    try:
        with override_settings(LLM_N_THREADS=1):
            bench.model = reference_model()
            return measure(
                bench, reps=bench.config.one_thread_reps, long_reps=1, tag="1 model thread: "
            )
    finally:
        bench.model = reference_model()  # the one-thread model was let go: load it again


def model_name() -> str:
    from llm.model import model_spec_from_settings

    spec = model_spec_from_settings()
    return spec.name or spec.path.stem


def _machine(load_before: tuple[float, float, float]) -> dict[str, Any]:
    import llama_cpp
    import psutil

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "llama_cpp_python": llama_cpp.__version__,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "other_model_processes_at_end": other_model_processes(),
    }


def _write(results: dict[str, Any], out: Path, plots_dir: Path) -> int:
    from . import plots, report, schema

    found = schema.problems(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    results["targets"] = report.targets(results) if not found else []
    out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"==> wrote {out}")
    if found:
        print("The results are malformed:\n  " + "\n  ".join(found), file=sys.stderr)
        return 1
    for path in plots.draw_all(results, plots_dir):
        print(f"==> wrote {path}")
    print()
    print(report.table(results))
    return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"==> bench finished in {time.monotonic() - started:.0f} s")
    sys.exit(code)
