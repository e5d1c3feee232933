"""The targets of issue #4, checked against a results dict, and the table `make bench` prints."""

from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target: what, the target, the measured value, met or not (None: n/a)."""
    eff = results["efficiency"]
    ttft = results["ttft_overhead_ms"]
    five_hundred = [p for p in results["fanout"] if p["clients"] == 500 and p["replicas"] == 1]
    chat = results["chat_latency_ms"]
    db = results["db_writes_per_generation"]
    opened = results["long_thread_open_ms"]
    catch_up = results["reconnect_catch_up"]
    rows = [
        ("efficiency, short answer", "≥ 0.97", eff["short_answer"],
         _ge(eff["short_answer"], 0.97)),
        ("efficiency, long answer", "≥ 0.97", eff["long_answer"], _ge(eff["long_answer"], 0.97)),
        ("efficiency, long thread", "(reported)", eff["long_thread"], None),
        ("TTFT overhead p50 (ms)", "≤ 30", ttft["p50"], _le(ttft["p50"], 30)),
        ("TTFT overhead p95 (ms)", "≤ 100", ttft["p95"], _le(ttft["p95"], 100)),
    ]  # fmt: skip
    if breakdown := results.get("ttft_breakdown_ms"):
        steps = " · ".join(f"{step} {_fmt(ms)}" for step, ms in breakdown.items())
        rows.append(("TTFT by step, p50 of each (ms)", "(reported)", steps, None))
    if five_hundred:
        point = five_hundred[0]
        rows += [
            ("500 clients, 1 daphne: every frame in order", "true", point["all_in_order"],
             point["all_in_order"]),
            ("500 clients, 1 daphne: p99 (ms)", "≤ 100", point["p99_ms"],
             _le(point["p99_ms"], 100)),
        ]  # fmt: skip
    rows += [
        (f"chat p99 at {chat['members']} members (ms)", "≤ 50", chat["p99"],
         _le(chat["p99"], 50)),
        ("DB writes per generation", f"≤ 2 + {db['generation_s']:.0f} s = "
         f"{2 + db['generation_s']:.0f}", db["writes"], db["writes"] <= 2 + db["generation_s"]),
        ("memory per idle connection (KiB)", "(reported)", results["memory_per_connection_kib"],
         None),
        (f"open a {opened['messages']}-message thread, first paint p50 (ms)", "≤ 300",
         opened["p50"], _le(opened["p50"], 300)),
        (f"open a {opened['messages']}-message thread, first paint p95 (ms)", "(reported)",
         opened["p95"], None),
        (f"reconnect after {catch_up['new_events']} new messages (bytes)",
         f"< newest page ({catch_up['newest_page_bytes']})", catch_up["bytes_sent"],
         catch_up["bytes_sent"] < catch_up["newest_page_bytes"]),
    ]  # fmt: skip
    rows += _document_rows(results) + _model_rows(results) + _api_rows(results)
    rows += _engine_rows(results)
    rows += _knowledge_rows(results) + _soak_rows(results)
    return [{"what": w, "target": t, "value": v, "met": m} for w, t, v, m in rows]


def _document_rows(results: dict[str, Any]) -> list[tuple[str, str, Any, bool | None]]:
    rows: list[tuple[str, str, Any, bool | None]] = []
    for point in results.get("document_edit_propagation_ms", []):
        target = "≤ 50" if point["editors"] == 20 else "(reported)"
        met = _le(point["p99"], 50) and point["converged"] if point["editors"] == 20 else None
        rows.append((
            f"document edits, {point['editors']} editors on 2 replicas: p99 (ms), converged",
            target, f"{_fmt(point['p99'])}, {point['converged']}", met,
        ))  # fmt: skip
    opened = results.get("document_open_ms")
    if opened:
        rows += [
            (f"open a document of {opened['updates']} updates, before compaction (ms)",
             "(reported)", opened["before_compaction"], None),
            (f"open a document of {opened['updates']} updates, after compaction (ms)", "≤ 200",
             opened["after_compaction"], _le(opened["after_compaction"], 200)),
        ]  # fmt: skip
    if "assistant_document_efficiency" in results:
        value = results["assistant_document_efficiency"]
        rows.append(("assistant writing into a document while people type: efficiency", "≥ 0.95",
                     value, _ge(value, 0.95)))  # fmt: skip
        one_thread = (
            results.get("details", {}).get("assistant_document", {}).get("one_model_thread")
        )
        if one_thread:
            rows.append(("  the same with LLM_N_THREADS=1", "(reported)",
                         one_thread["efficiency"], None))  # fmt: skip
    return rows


def _model_rows(results: dict[str, Any]) -> list[tuple[str, str, Any, bool | None]]:
    followup = results.get("followup_ttft_ms")
    if not followup:
        return []
    limit = 1.5 * followup["fresh_short"]
    tokens = followup["prompt_tokens"]
    rows: list[tuple[str, str, Any, bool | None]] = [
        ("TTFT of a fresh 100-token prompt (ms)", "(reported)", followup["fresh_short"], None),
        (f"TTFT of a follow-up in a {tokens}-token thread, cold (ms)", "(reported)",
         followup["cold"], None),
        ("  warm (ms)", f"≤ {limit:.0f}", followup["warm"], _le(followup["warm"], limit)),
        ("  warm after two other threads (ms)", f"≤ {limit:.0f}",
         followup["warm_after_interleaving"], _le(followup["warm_after_interleaving"], limit)),
        ("memory per kept state (MiB)", "(reported)", results.get("kept_state_mib"), None),
    ]  # fmt: skip
    for name, ratio in (
        results.get("two_models_at_once", {}).get("ratio_together_to_alone", {}).items()
    ):
        rows.append((f"two models at once: {name} tokens/s together ÷ alone", "(reported)",
                     ratio, None))  # fmt: skip
    return rows


def _api_rows(results: dict[str, Any]) -> list[tuple[str, str, Any, bool | None]]:
    compat = results.get("openai_compat")
    if not compat:
        return []
    ours, theirs = compat["ours"], compat["llama_cpp_server"]
    ttft_limit = theirs["ttft_ms_p50"] + 30
    rate_limit = 0.97 * theirs["tokens_per_s"]
    return [
        ("/v1 streaming TTFT p50, ours (llama_cpp.server) ms", f"≤ {ttft_limit:.0f}",
         f"{ours['ttft_ms_p50']} ({theirs['ttft_ms_p50']})", _le(ours["ttft_ms_p50"], ttft_limit)),
        ("/v1 streaming tokens/s, ours (llama_cpp.server)", f"≥ {rate_limit:.1f}",
         f"{ours['tokens_per_s']} ({theirs['tokens_per_s']})",
         _ge(ours["tokens_per_s"], rate_limit)),
        ("SSE answer efficiency vs plain llama-cpp-python", "(reported)",
         results.get("sse_efficiency"), None),
    ]  # fmt: skip


def _engine_rows(results: dict[str, Any]) -> list[tuple[str, str, Any, bool | None]]:
    """Several people asking at once: ours against the plain batched loop (the limit)."""
    engine = results.get("engine")
    if not engine:
        return []
    limit, ours = engine["limit"], engine["ours"]
    rows: list[tuple[str, str, Any, bool | None]] = []
    for askers in ("1", "2", "4", "8"):
        value = f"{ours[askers]['tokens_per_s']} ({limit[askers]})"
        if askers == "4":
            wanted = 0.9 * limit["4"]
            rows.append((f"{askers} asking at once: tokens/s, ours (limit)", f"≥ {wanted:.1f}",
                         value, _ge(ours["4"]["tokens_per_s"], wanted)))  # fmt: skip
        else:
            rows.append((f"{askers} asking at once: tokens/s, ours (limit)", "(reported)", value,
                         None))  # fmt: skip
    lone = ours["1"]["ttft_ms_p50"]
    slowest = ours["4"]["ttft_ms_max"]
    rows += [
        ("4 asking at once: slowest TTFT (ms) vs 2 x a lone question's", f"≤ {2 * lone:.0f}",
         f"{slowest} (p50 {ours['4']['ttft_ms_p50']})", _le(slowest, 2 * lone)),
        ("8 asking at once: TTFT p50 / slowest (ms)", "(reported)",
         f"{ours['8']['ttft_ms_p50']} / {ours['8']['ttft_ms_max']}", None),
        ("the limit's own gain, tokens/s at 4 ÷ at 1", "(reported)",
         round(limit["4"] / limit["1"], 2) if limit["1"] else None, None),
    ]  # fmt: skip
    return rows


def _knowledge_rows(results: dict[str, Any]) -> list[tuple[str, str, Any, bool | None]]:
    if "recall_at_5" not in results:
        return []
    ingestion, recall = results["ingestion"], results["recall_at_5"]
    chat, answers = results["chat_latency_during_ingestion_ms"], results["answers_during_ingestion"]
    varied = recall["varied"]
    rows: list[tuple[str, str, Any, bool | None]] = [
        ("ingestion: passages/s (slowest kind), PDF pages/s", "≥ 25 passages/s",
         f"{ingestion['passages_per_s']} / {ingestion['pages_per_s']}",
         _ge(ingestion["passages_per_s"], 25)),
    ]  # fmt: skip
    for point in results.get("retrieval_ms", []):
        met = _le(point["p95"], 50) if point["chunks"] == 100_000 else None
        rows.append((f"retrieval, {point['chunks']:,} passages, {point['database']}: p50 / p95 ms",
                     "p95 ≤ 50 at 100,000", f"{point['p50']} / {point['p95']}", met))  # fmt: skip
    rows += [
        ("recall@5 fused (full-text alone / vectors alone)", "≥ 0.9",
         f"{recall['fused']} ({recall['bm25']} / {recall['vector']})", _ge(recall["fused"], 0.9)),
        ("recall@5 fused, the varied questions (full-text alone / vectors alone)", "≥ 0.9",
         f"{varied['fused']} ({varied['bm25']} / {varied['vector']})", _ge(varied["fused"], 0.9)),
        ("answer TTFT p95 while a PDF is read vs idle (ms)",
         f"≤ 1.2 × {answers['ttft_ms_p95_idle']}", answers["ttft_ms_p95"],
         _le(answers["ttft_ms_p95"], 1.2 * answers["ttft_ms_p95_idle"])),
        ("answer tokens/s while a PDF is read vs idle",
         f"≥ 0.9 × {answers['tokens_per_s_idle']}", answers["tokens_per_s"],
         _ge(answers["tokens_per_s"], 0.9 * answers["tokens_per_s_idle"])),
        ("chat p99 while a PDF is read (ms) vs without", f"≤ {chat['p99_without']}",
         chat["p99"], _le(chat["p99"], chat["p99_without"])),
        ("time to first token, with retrieval minus without, p50 (ms)", "(reported)",
         results["retrieval_ttft_overhead_ms"]["p50"], None),
    ]  # fmt: skip
    return rows


def _soak_rows(results: dict[str, Any]) -> list[tuple[str, str, Any, bool | None]]:
    if "soak" not in results:
        return []
    soak = results["soak"]
    return [
        (f"soak, {soak['minutes']} min, {soak['sockets_peak']} sockets: after everyone left, "
         "memory, files and Redis within 10 % of the start", "true", soak["ok"], soak["ok"]),
        ("soak: topics still followed after everyone left", "0", soak["groups_left"],
         soak["groups_left"] == 0),
    ]  # fmt: skip


def _ge(value: float | None, limit: float) -> bool:
    return value is not None and value >= limit


def _le(value: float | None, limit: float) -> bool:
    return value is not None and value <= limit


def table(results: dict[str, Any]) -> str:
    rows = [("figure", "target", "measured", "met")]
    for row in targets(results):
        met = {True: "yes", False: "NO", None: "-"}[row["met"]]
        rows.append((row["what"], row["target"], _fmt(row["value"]), met))
    rows.append(("", "", "", ""))
    for point in [*results["fanout"], *results.get("fanout_slower_frames", [])]:
        rows.append((
            f"fan-out {point['clients']} clients x {point['replicas']} daphne "
            f"@ {_fmt(point.get('rate_hz'))} Hz", "p50 / p99 / max ms, in order",
            f"{_fmt(point['p50_ms'])} / {_fmt(point['p99_ms'])} / {_fmt(point['max_ms'])}",
            "yes" if point["all_in_order"] else "NO",
        ))  # fmt: skip
    per_token = results["baselines"]["per_token_sends"]
    polling = results["baselines"]["polling_250ms"]
    one_thread = results.get("efficiency_one_model_thread")
    if one_thread:
        rows += [("", "", "", ""), (
            "efficiency with LLM_N_THREADS=1, short / long / long thread", "",
            f"{_fmt(one_thread['short_answer'])} / {_fmt(one_thread['long_answer'])} / "
            f"{_fmt(one_thread['long_thread'])}", "",
        )]  # fmt: skip
    rows += [
        ("", "", "", ""),
        ("baseline: per-token sends, efficiency short / long", "",
         f"{_fmt(per_token['efficiency']['short_answer'])} / "
         f"{_fmt(per_token['efficiency']['long_answer'])}", ""),
        ("baseline: per-token sends, TTFT overhead p50 / p95 ms", "",
         f"{_fmt(per_token['ttft_overhead_ms']['p50'])} / "
         f"{_fmt(per_token['ttft_overhead_ms']['p95'])}", ""),
    ]  # fmt: skip
    for point in per_token["fanout"]:
        rows.append((
            f"baseline: per-token fan-out {point['clients']} clients @ {_fmt(point['rate_hz'])} Hz",
            "", f"{_fmt(point['p50_ms'])} / {_fmt(point['p99_ms'])} / {_fmt(point['max_ms'])}",
            "in order" if point["all_in_order"] else "LOST/out of order",
        ))  # fmt: skip
    delay = polling["delay_vs_websocket_ms"]
    rows.append((
        f"baseline: {polling['pollers']} pollers every 250 ms, delay vs socket p50/p99/max ms",
        "", f"{_fmt(delay['p50'])} / {_fmt(delay['p99'])} / {_fmt(delay['max'])}",
        f"{polling['requests']} requests",
    ))  # fmt: skip
    stop = results["stop_latency_ms"]
    rows.append(("stop latency p50 / p95 ms", "", "n/a (no stop)" if stop is None else
                 f"{_fmt(stop['p50'])} / {_fmt(stop['p95'])}", ""))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
