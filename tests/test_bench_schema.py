"""The benchmark's results-file check: what it accepts and what it reports. No stack needed."""

import copy
import json

import pytest

from bench import schema


def _valid() -> dict:
    return {
        "machine": {"cores": 2},
        "model": "SmolLM2-135M-Instruct.Q4_1",
        "when": "2025-01-01T12:00:00+00:00",
        "efficiency": {"short_answer": 0.98, "long_answer": 0.97, "long_thread": 0.9},
        "ttft_overhead_ms": {"p50": 20.5, "p95": 80},
        "ttft_breakdown_ms": dict.fromkeys(schema.TTFT_STEPS, 2.5),
        "fanout": [
            {
                "clients": 500,
                "replicas": 1,
                "p50_ms": 5.0,
                "p99_ms": 40.0,
                "max_ms": 90.0,
                "all_in_order": True,
            },
            {
                "clients": 500,
                "replicas": 2,
                "p50_ms": 4.0,
                "p99_ms": 30.0,
                "max_ms": 60.0,
                "all_in_order": False,
            },
        ],
        "chat_latency_ms": {"members": 100, "p50": 10.0, "p99": 40.0},
        "memory_per_connection_kib": 25.3,
        "db_writes_per_generation": {"writes": 12, "generation_s": 11.2},
        "stop_latency_ms": None,
        "long_thread_open_ms": {"messages": 5000, "p50": 120.0, "p95": 180.0},
        "navigation_ms": {
            "threads": 200,
            "server_p95": 60.0,
            "first_paint_p95": 150.0,
            "queries": 12,
        },
        "document_edit_propagation_ms": [
            {"editors": 20, "replicas": 2, "p50": 9.0, "p99": 31.0, "converged": True}
        ],
        "document_open_ms": {
            "updates": 10000,
            "before_compaction": 410.0,
            "after_compaction": 20.0,
        },
        "assistant_document_efficiency": 0.97,
        "followup_ttft_ms": {
            "prompt_tokens": 1501,
            "fresh_short": 60.0,
            "cold": 2400.0,
            "warm": 70.0,
            "warm_after_interleaving": 80.0,
        },
        "kept_state_mib": 32.5,
        "two_models_at_once": {"ratio_together_to_alone": {"a": 0.5, "b": 0.5}},
        "openai_compat": {
            "ours": {"ttft_ms_p50": 40.0, "tokens_per_s": 60.0},
            "llama_cpp_server": {"ttft_ms_p50": 35.0, "tokens_per_s": 61.0},
        },
        "sse_efficiency": 0.96,
        "ingestion": {"passages_per_s": 40.0, "pages_per_s": 9.5, "chunks_per_s": 40.0},
        "embedders": [{"name": "static", "passages_per_s": 500.0}],
        "retrieval_ms": [
            {"chunks": 10000, "database": "sqlite", "p50": 20.0, "p95": 30.0},
            {"chunks": 100000, "database": "postgresql", "p50": 40.0, "p95": 60.0},
        ],
        "recall_at_5": {
            "fused": 0.96,
            "bm25": 0.6,
            "vector": 0.9,
            "varied": {"fused": 0.95, "bm25": 0.7, "vector": 0.9},
        },
        "source_relevance": {
            "precision": 0.6,
            "recall": 0.77,
            "prompt_tokens_added_p50": 113,
            "off_topic_with_passages": 0,
            "unfiltered": {"precision": 0.24, "recall": 0.96},
        },
        "answers_during_ingestion": {
            "ttft_ms_p95": 110.0,
            "ttft_ms_p95_idle": 100.0,
            "tokens_per_s": 60.0,
            "tokens_per_s_idle": 62.0,
        },
        "chat_latency_during_ingestion_ms": {"p99": 25.0, "p99_without": 24.0},
        "retrieval_ttft_overhead_ms": {"p50": 300.0},
        "reconnect_catch_up": {
            "messages_in_thread": 5010,
            "new_events": 10,
            "bytes_sent": 9000,
            "ms": 15.0,
            "newest_page_bytes": 60000,
            "newest_page_ms": 40.0,
        },
        "engine": {
            "slots": 4,
            "limit": {"1": 89.0, "2": 129.0, "4": 156.0, "8": 200.0},
            "ours": {
                askers: {"tokens_per_s": 80.0, "ttft_ms_p50": 60.0, "ttft_ms_max": 90.0}
                for askers in ("1", "2", "4", "8")
            },
        },
        "baselines": {"per_token_sends": {"efficiency": {}}, "polling_250ms": {"requests": 9}},
        "soak": {
            "minutes": 10.2,
            "sockets_peak": 200,
            "rss_mib": {
                "start": {"daphne-0": 120.5, "redis": 12.0},
                "end": {"daphne-0": 124.0, "redis": 12.1},
            },
            "redis_keys": {"start": 12, "end": 12},
            "fds": {"start": {"daphne-0": 30, "redis": 40}, "end": {"daphne-0": 30, "redis": 40}},
            "groups_left": 0,
            "ok": True,
        },
    }


def test_a_complete_results_dict_is_valid():
    assert schema.problems(_valid()) == []
    schema.check(_valid())


def test_results_from_before_the_soak_ran_are_valid():
    results = _valid()
    results.pop("soak")
    assert schema.problems(results) == []


def test_stop_latency_may_be_measured():
    results = _valid()
    results["stop_latency_ms"] = {"p50": 40.0, "p95": 70.0}
    assert schema.problems(results) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r.pop("efficiency"), "efficiency: missing"),
        (lambda r: r.pop("long_thread_open_ms"), "long_thread_open_ms: missing"),
        (lambda r: r["navigation_ms"].pop("queries"), "navigation_ms.queries: missing"),
        (lambda r: r["reconnect_catch_up"].update(bytes_sent=1.5), "reconnect_catch_up.bytes_sent"),
        (lambda r: r["efficiency"].pop("long_thread"), "efficiency.long_thread: missing"),
        (lambda r: r["ttft_overhead_ms"].update(p95="fast"), "ttft_overhead_ms.p95"),
        (lambda r: r["ttft_breakdown_ms"].pop("retrieval"), "ttft_breakdown_ms.retrieval: missing"),
        (lambda r: r["ttft_breakdown_ms"].update(queue=None), "ttft_breakdown_ms.queue"),
        (lambda r: r.update(when="yesterday"), "when"),
        (lambda r: r.update(fanout=[]), "fanout: expected a non-empty list"),
        (lambda r: r["fanout"][0].update(replicas=3), "fanout[0].replicas"),
        (lambda r: r["fanout"][1].update(all_in_order="yes"), "fanout[1].all_in_order"),
        (lambda r: r["chat_latency_ms"].update(members=True), "chat_latency_ms.members"),
        (lambda r: r.update(memory_per_connection_kib=float("nan")), "memory_per_connection_kib"),
        (lambda r: r["db_writes_per_generation"].update(writes=2.5), "writes"),
        (lambda r: r.pop("stop_latency_ms"), "stop_latency_ms: missing"),
        (lambda r: r.update(stop_latency_ms={"p50": 1}), "stop_latency_ms.p95: missing"),
        (lambda r: r["baselines"].pop("polling_250ms"), "baselines.polling_250ms"),
        (lambda r: r.pop("engine"), "engine: missing"),
        (lambda r: r["engine"].update(slots=4.0), "engine.slots"),
        (lambda r: r["engine"]["limit"].pop("8"), "engine.limit.8: missing"),
        (lambda r: r["engine"]["limit"].update({"16": 1.0}), "engine.limit.16: unexpected key"),
        (lambda r: r["engine"]["ours"].pop("4"), "engine.ours.4: missing"),
        (lambda r: r["engine"]["ours"]["2"].pop("ttft_ms_max"), "engine.ours.2.ttft_ms_max"),
        (lambda r: r["engine"]["ours"]["1"].update(tokens_per_s=None), "engine.ours.1.tokens"),
        (lambda r: r["engine"].update(details={}), "engine.details: unexpected key"),
        (lambda r: r["soak"].pop("ok"), "soak.ok: missing"),
        (lambda r: r["soak"].update(groups_left=0.5), "soak.groups_left"),
        (lambda r: r["soak"]["rss_mib"]["end"].pop("redis"), "soak.rss_mib"),
        (lambda r: r["soak"]["fds"].update(peak={}), "soak.fds"),
        (lambda r: r["soak"]["redis_keys"].pop("end"), "soak.redis_keys"),
    ],
)
def test_each_problem_is_reported(change, expected):
    results = copy.deepcopy(_valid())
    change(results)
    found = schema.problems(results)
    assert any(expected in problem for problem in found), found
    with pytest.raises(schema.SchemaError):
        schema.check(results)


OUTAGE = {
    "pages": 20,
    "outage_s": 10.0,
    "told_reconnecting": 20,
    "live_again_s": 0.9,
    "answer_ended": "done",
    "answer_shown_s": 12.0,
    "typed": 20,
    "lost": 0,
    "duplicates": 0,
    "served_after": "done",
    "processes_restarted": 0,
}


def test_outages_are_checked_when_measured_and_one_may_be_skipped_with_its_reason():
    results = _valid()
    results["outages"] = {"redis_10s": dict(OUTAGE), "postgres_10s": {"skipped": "SQLite"}}
    assert schema.problems(results) == []

    results["outages"]["redis_10s"].pop("lost")
    results["outages"]["postgres_10s"] = {**OUTAGE, "answer_ended": "streaming"}
    assert schema.problems(results) == [
        "outages.redis_10s.lost: missing",
        "outages.postgres_10s.answer_ended: unexpected value 'streaming'",
    ]


def test_not_a_dict_is_invalid():
    assert schema.problems([]) == ["results: expected an object"]


def test_the_command_line_check_exits_non_zero_on_a_bad_file(tmp_path, capsys):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps(_valid()))
    bad.write_text(json.dumps({"model": "x"}))
    assert schema.main([str(good)]) == 0
    assert schema.main([str(bad)]) == 1
    assert schema.main([str(tmp_path / "missing.json")]) == 1
    assert "efficiency: missing" in capsys.readouterr().err


def test_the_engine_targets_compare_ours_at_four_with_the_limit_and_a_lone_question():
    from bench import report

    results = _valid()
    results["engine"]["ours"]["1"].update(ttft_ms_p50=50.0, ttft_ms_max=50.0)
    results["engine"]["ours"]["4"].update(tokens_per_s=141.0, ttft_ms_max=100.0)
    rows = {row["what"]: row for row in report.targets(results)}
    assert rows["4 asking at once: tokens/s, ours (limit)"]["met"] is True  # 141 ≥ 0.9 x 156
    assert rows["4 asking at once: slowest TTFT (ms) vs 2 x a lone question's"]["met"] is True
    assert rows["the limit's own gain, tokens/s at 4 ÷ at 1"]["value"] == 1.75

    results["engine"]["ours"]["4"].update(tokens_per_s=140.0, ttft_ms_max=101.0)
    rows = {row["what"]: row for row in report.targets(results)}
    assert rows["4 asking at once: tokens/s, ours (limit)"]["met"] is False
    assert rows["4 asking at once: slowest TTFT (ms) vs 2 x a lone question's"]["met"] is False
