"""The figures of bench/README.md, drawn from a results dict (PNG, matplotlib's Agg backend)."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _none_to_nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


def efficiency(results: dict[str, Any], path: Path) -> None:
    labels = ["short_answer", "long_answer", "long_thread"]
    coalesced = [_none_to_nan(results["efficiency"][k]) for k in labels]
    per_token = results["baselines"]["per_token_sends"].get("efficiency", {})
    baseline = [_none_to_nan(per_token.get(k)) for k in labels]
    one_thread = results.get("efficiency_one_model_thread", {})
    spare_core = [_none_to_nan(one_thread.get(k)) for k in labels]
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = range(len(labels))
    ax.bar([x - 0.27 for x in xs], coalesced, 0.27, label="coalesced frames (40 ms)")
    ax.bar(list(xs), baseline, 0.27, label="one group message per token")
    ax.bar([x + 0.27 for x in xs], spare_core, 0.27, label="coalesced, LLM_N_THREADS=1")
    ax.axhline(0.97, color="red", linestyle="--", label="target 0.97")
    ax.set_xticks(list(xs), [label.replace("_", " ") for label in labels])
    ax.set_ylabel("client tokens/s ÷ plain llama-cpp-python tokens/s")
    ax.set_ylim(0, 1.1)
    ax.set_title("Pipeline efficiency")
    ax.legend(loc="lower right")
    _save(fig, path)


def ttft(results: dict[str, Any], path: Path) -> None:
    runs = [run for run in results["details"]["generation_runs"] if run["label"] == "short"]
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = range(1, len(runs) + 1)
    ax.plot(xs, [run["plain_ttft_ms"] for run in runs], "o-", label="plain llama-cpp-python")
    ax.plot(xs, [run["client_ttft_ms"] for run in runs], "s-", label="WebSocket client")
    ax.plot(xs, [run["ttft_overhead_ms"] for run in runs], "^-", label="overhead (difference)")
    ax.axhline(30, color="red", linestyle="--", label="overhead target p50 30 ms")
    ax.axhline(100, color="orange", linestyle=":", label="overhead target p95 100 ms")
    ax.set_xlabel("run")
    ax.set_ylabel("ms")
    ax.set_title("Time to first token, per run")
    ax.legend(fontsize="small")
    _save(fig, path)


def fanout(results: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 5))
    series = {
        "1 daphne": [p for p in results["fanout"] if p["replicas"] == 1],
        "2 daphne": [p for p in results["fanout"] if p["replicas"] == 2],
        "per-token sends, 1 daphne": results["baselines"]["per_token_sends"].get("fanout", []),
    }
    for (name, points), color in zip(series.items(), ["C0", "C1", "C2"], strict=True):
        points = sorted(points, key=lambda p: p["clients"])  # noqa: PLW2901
        if not points:
            continue
        xs = [p["clients"] for p in points]
        ax.plot(xs, [_none_to_nan(p["p50_ms"]) for p in points], "o-", color=color,
                label=f"{name} p50")  # fmt: skip
        ax.plot(xs, [_none_to_nan(p["p99_ms"]) for p in points], "s--", color=color,
                label=f"{name} p99")  # fmt: skip
        for p in points:
            if not p["all_in_order"]:
                ax.annotate("lost/out of order", (p["clients"], _none_to_nan(p["p99_ms"])),
                            fontsize=7, color=color)  # fmt: skip
    ax.axhline(100, color="red", linestyle="--", label="target p99 100 ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("WebSocket clients in the thread")
    ax.set_ylabel("frame delay, worker → client (ms)")
    ax.set_title("Fan-out delay")
    ax.legend(fontsize="small")
    _save(fig, path)


def memory(results: dict[str, Any], path: Path) -> None:
    samples = results["details"]["memory"]["samples"]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([s[0] for s in samples], [s[1] for s in samples], "o-")
    ax.set_xlabel("idle WebSocket connections")
    ax.set_ylabel("daphne RSS (MiB)")
    ax.set_title(f"Memory: {results['memory_per_connection_kib']} KiB per connection")
    _save(fig, path)


def latency(results: dict[str, Any], path: Path) -> None:
    chat = results["chat_latency_ms"]
    polling = results["baselines"]["polling_250ms"]["delay_vs_websocket_ms"]
    fig, ax = plt.subplots(figsize=(7, 4))
    labels = [f"chat, {chat['members']} members", "polling 250 ms vs socket"]
    p50 = [_none_to_nan(chat["p50"]), _none_to_nan(polling["p50"])]
    p99 = [_none_to_nan(chat["p99"]), _none_to_nan(polling["p99"])]
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], p50, 0.4, label="p50")
    ax.bar([x + 0.2 for x in xs], p99, 0.4, label="p99")
    ax.axhline(50, color="red", linestyle="--", label="chat target p99 50 ms")
    ax.set_xticks(list(xs), labels)
    ax.set_ylabel("ms")
    ax.set_title("Human chat latency and the polling baseline")
    ax.legend()
    _save(fig, path)


def engine(results: dict[str, Any], path: Path) -> None:
    engine = results["engine"]
    askers = sorted(engine["limit"], key=int)
    xs = [int(n) for n in askers]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(xs, [_none_to_nan(engine["limit"][n]) for n in askers], "o--",
            label="limit: plain batched llama-cpp-python loop")  # fmt: skip
    alone = results.get("details", {}).get("engine", {}).get("engine_alone", {})
    if all(n in alone for n in askers):
        ax.plot(xs, [_none_to_nan(alone[n]["tokens_per_s"]) for n in askers], "^:",
                label="our engine alone: the same prompts, no stack")  # fmt: skip
    ax.plot(xs, [_none_to_nan(engine["ours"][n]["tokens_per_s"]) for n in askers], "s-",
            label="ours: people asking through the stack")  # fmt: skip
    if "4" in engine["limit"]:
        ax.plot([4], [0.9 * engine["limit"]["4"]], "r_", markersize=20,
                label="target at 4: 0.9 × the limit")  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("people asking at the same moment")
    ax.set_ylabel("tokens/s, all answers together")
    most = max(xs)
    slots = engine["slots"] if engine["slots"] >= most else f"{engine['slots']}, {most} for {most}"
    ax.set_title(f"Several people asking at once (the worker's slots: {slots})")
    ax.legend(fontsize="small", loc="lower right")
    _save(fig, path)


def soak(results: dict[str, Any], path: Path) -> None:
    soak, samples = results["soak"], results["details"]["soak"]["samples"]
    start = soak["rss_mib"]["start"]
    fig, ax = plt.subplots(figsize=(8, 4))
    minutes = [s["t_s"] / 60 for s in samples]
    for name, mib in start.items():
        share = [100 * _none_to_nan(s["rss_mib"].get(name)) / mib for s in samples]
        ax.plot(minutes, share, label=f"{name} (start {mib:g} MiB)")
    ax.axhline(110, color="red", linestyle="--", label="start + 10 %")
    sockets = ax.twinx()
    sockets.fill_between(minutes, [s["sockets"] for s in samples], color="grey", alpha=0.15,
                         step="post")  # fmt: skip
    sockets.set_ylabel("open sockets (grey)")
    ax.set_xlabel("minutes since the soak began (the first wave is the warm-up)")
    ax.set_ylabel("RSS, % of its start")
    ok = "all back within 10 %" if soak["ok"] else "NOT all back within 10 %"
    ax.set_title(f"Soak: memory of each process, every 10 s ({ok})")
    ax.legend(fontsize="small", loc="lower right")
    _save(fig, path)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


ALL = {
    "efficiency.png": efficiency,
    "ttft.png": ttft,
    "fanout.png": fanout,
    "memory.png": memory,
    "latency.png": latency,
    "engine.png": engine,
}
# Drawn when their section has run: the soak runs on its own (`--only soak`).
WHEN_MEASURED = {"soak.png": ("soak", soak)}


def draw_all(results: dict[str, Any], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    drawers = dict(ALL)
    drawers |= {
        name: draw
        for name, (section, draw) in WHEN_MEASURED.items()
        if section in results.get("details", {})
    }
    written = []
    for name, draw in drawers.items():
        draw(results, directory / name)
        written.append(directory / name)
    return written
