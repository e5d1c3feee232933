"""The shape of bench/results.json, checked: ``python -m bench.schema PATH`` (exit 1 if wrong).

Only keys and types are checked, never how fast anything was.
"""

import json
import math
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from llm.first_token_steps import FIRST_TOKEN_STEPS


class SchemaError(ValueError):
    pass


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _iso(value: Any) -> bool:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return True


# The steps of a short answer's time to first token, in order (bench/measure_efficiency.py):
# the web process, then the worker's own, then delivery.
TTFT_STEPS = ("web", *FIRST_TOKEN_STEPS, "delivery")

Check = Callable[[Any], bool]
_FIELDS: dict[str, dict[str, Check] | Check] = {
    "machine": lambda v: isinstance(v, dict) and bool(v),
    "model": lambda v: isinstance(v, str) and bool(v),
    "when": _iso,
    "efficiency": {"short_answer": _number, "long_answer": _number, "long_thread": _number},
    "ttft_overhead_ms": {"p50": _number, "p95": _number},
    "ttft_breakdown_ms": dict.fromkeys(TTFT_STEPS, _number),
    "chat_latency_ms": {"members": _int, "p50": _number, "p99": _number},
    "memory_per_connection_kib": _number,
    "db_writes_per_generation": {"writes": _int, "generation_s": _number},
    "long_thread_open_ms": {"messages": _int, "p50": _number, "p95": _number},
    "navigation_ms": {
        "threads": _int,
        "server_p95": _number,
        "first_paint_p95": _number,
        "queries": _int,
    },
    "document_open_ms": {
        "updates": _int,
        "before_compaction": _number,
        "after_compaction": _number,
    },
    "assistant_document_efficiency": lambda v: v is None or _number(v),
    "followup_ttft_ms": {
        "prompt_tokens": _int,
        "fresh_short": _number,
        "cold": _number,
        "warm": _number,
        "warm_after_interleaving": _number,
    },
    "kept_state_mib": _number,
    "two_models_at_once": lambda v: isinstance(v, dict) and bool(v),
    "openai_compat": {
        "ours": lambda v: isinstance(v, dict) and _number(v.get("ttft_ms_p50")),
        "llama_cpp_server": lambda v: isinstance(v, dict) and _number(v.get("ttft_ms_p50")),
    },
    "sse_efficiency": _number,
    "ingestion": {"passages_per_s": _number, "pages_per_s": _number, "chunks_per_s": _number},
    "embedders": lambda v: isinstance(v, list) and all(_number(e["passages_per_s"]) for e in v),
    "recall_at_5": {
        "fused": _number,
        "bm25": _number,
        "vector": _number,
        "varied": lambda v: isinstance(v, dict) and _number(v.get("fused")),
    },
    "source_relevance": {
        "precision": _number,
        "recall": _number,
        "prompt_tokens_added_p50": _number,
        "off_topic_with_passages": _int,
        "unfiltered": lambda v: isinstance(v, dict) and _number(v.get("recall")),
    },
    "answers_during_ingestion": {
        "ttft_ms_p95": _number,
        "ttft_ms_p95_idle": _number,
        "tokens_per_s": _number,
        "tokens_per_s_idle": _number,
    },
    "chat_latency_during_ingestion_ms": {"p99": _number, "p99_without": _number},
    "retrieval_ttft_overhead_ms": {"p50": _number},
    "reconnect_catch_up": {
        "messages_in_thread": _int,
        "new_events": _int,
        "bytes_sent": _int,
        "ms": _number,
    },
}
_FANOUT: dict[str, Check] = {
    "clients": _int,
    "replicas": lambda v: v in (1, 2) and _int(v),
    "p50_ms": _number,
    "p99_ms": _number,
    "max_ms": _number,
    "all_in_order": lambda v: isinstance(v, bool),
}
_PERCENTILES: dict[str, Check] = {"p50": _number, "p95": _number}
OUTAGES = ("redis_10s", "postgres_10s")
_OUTAGE: dict[str, Check] = {
    "pages": _int,
    "outage_s": _number,
    "told_reconnecting": _int,
    "live_again_s": _number,
    "answer_ended": lambda v: v in ("done", "interrupted", "failed", "stopped"),
    "answer_shown_s": _number,
    "typed": _int,
    "lost": _int,
    "duplicates": _int,
    "served_after": lambda v: v is None or isinstance(v, str),
    "processes_restarted": _int,
}


def _per_process(value: Any) -> bool:
    """``{"start": {process: number}, "end": {...}}`` for the same processes."""
    return (
        isinstance(value, dict)
        and set(value) == {"start", "end"}
        and all(isinstance(v, dict) and v and all(map(_number, v.values())) for v in value.values())
        and set(value["start"]) == set(value["end"])
    )


_SOAK: dict[str, Check] = {
    "minutes": _number,
    "sockets_peak": _int,
    "rss_mib": _per_process,
    "redis_keys": lambda v: isinstance(v, dict) and _int(v.get("start")) and _int(v.get("end")),
    "fds": _per_process,
    "groups_left": _int,
    "ok": lambda v: isinstance(v, bool),
}
ENGINE_ASKERS = ("1", "2", "4", "8")
_ENGINE_OURS: dict[str, Check] = {
    "tokens_per_s": _number,
    "ttft_ms_p50": _number,
    "ttft_ms_max": _number,
}
_RETRIEVAL: dict[str, Check] = {
    "chunks": _int,
    "database": lambda v: v in ("sqlite", "postgresql", "none"),  # none: the vector index alone
    "p50": _number,
    "p95": _number,
}
_PROPAGATION: dict[str, Check] = {
    "editors": _int,
    "replicas": _int,
    "p50": _number,
    "p99": _number,
    "converged": lambda v: isinstance(v, bool),
}


def _check_dict(value: Any, fields: dict[str, Check], where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: expected an object, got {type(value).__name__}"]
    found = []
    for key, ok in fields.items():
        if key not in value:
            found.append(f"{where}.{key}: missing")
        elif not ok(value[key]):
            found.append(f"{where}.{key}: unexpected value {value[key]!r}")
    return found


def _top_level(results: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for key, rule in _FIELDS.items():
        if key not in results:
            found.append(f"{key}: missing")
        elif isinstance(rule, dict):
            found += _check_dict(results[key], rule, key)
        elif not rule(results[key]):
            found.append(f"{key}: unexpected value {results[key]!r}")
    return found


def _check_exactly(value: Any, fields: dict[str, Check], where: str) -> list[str]:
    """``_check_dict``, and no key beyond ``fields``."""
    found = _check_dict(value, fields, where)
    if isinstance(value, dict):
        found += [f"{where}.{key}: unexpected key" for key in value if key not in fields]
    return found


def _check_engine(results: dict[str, Any]) -> list[str]:
    """``engine``: exactly ``{"slots", "limit": {askers: tokens/s}, "ours": {askers: {...}}}``
    for 1, 2, 4 and 8 askers."""
    if "engine" not in results:
        return ["engine: missing"]
    engine = results["engine"]
    found = _check_exactly(engine, {"slots": _int, "limit": _is_dict, "ours": _is_dict}, "engine")
    if found:
        return found
    found += _check_exactly(engine["limit"], dict.fromkeys(ENGINE_ASKERS, _number), "engine.limit")
    found += _check_exactly(engine["ours"], dict.fromkeys(ENGINE_ASKERS, _is_dict), "engine.ours")
    for askers in ENGINE_ASKERS:
        if isinstance(engine["ours"].get(askers), dict):
            found += _check_exactly(engine["ours"][askers], _ENGINE_OURS, f"engine.ours.{askers}")
    return found


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def _check_points(results: dict[str, Any], key: str, fields: dict[str, Check]) -> list[str]:
    """``results[key]`` is a non-empty list of objects with ``fields``."""
    points = results.get(key)
    if not isinstance(points, list) or not points:
        return [f"{key}: expected a non-empty list"]
    found = []
    for i, point in enumerate(points):
        found += _check_dict(point, fields, f"{key}[{i}]")
    return found


def _check_outages(results: dict[str, Any]) -> list[str]:
    """``outages`` (when measured): each outage measured, or skipped with the reason."""
    if "outages" not in results:
        return []
    outages = results["outages"]
    found = _check_exactly(outages, dict.fromkeys(OUTAGES, _is_dict), "outages")
    for name in OUTAGES:
        outage = outages.get(name) if isinstance(outages, dict) else None
        if isinstance(outage, dict) and not isinstance(outage.get("skipped"), str):
            found += _check_exactly(outage, _OUTAGE, f"outages.{name}")
    return found


def problems(results: Any) -> list[str]:
    """Everything wrong with the shape of ``results``; empty when it is valid."""
    if not isinstance(results, dict):
        return ["results: expected an object"]
    found = _top_level(results)
    found += _check_points(results, "fanout", _FANOUT)
    for i, point in enumerate(results.get("fanout_slower_frames", [])):
        found += _check_dict(point, _FANOUT, f"fanout_slower_frames[{i}]")
    found += _check_points(results, "document_edit_propagation_ms", _PROPAGATION)
    found += _check_points(results, "retrieval_ms", _RETRIEVAL)
    found += _check_engine(results)
    if "soak" in results:  # written by its own run (`--only soak`), after the others
        found += _check_dict(results["soak"], _SOAK, "soak")
    found += _check_outages(results)
    if "stop_latency_ms" not in results:
        found.append("stop_latency_ms: missing (null when there is no stop)")
    elif results["stop_latency_ms"] is not None:
        found += _check_dict(results["stop_latency_ms"], _PERCENTILES, "stop_latency_ms")
    baselines = results.get("baselines")
    if not isinstance(baselines, dict):
        found.append("baselines: expected an object")
    else:
        for key in ("per_token_sends", "polling_250ms"):
            if not isinstance(baselines.get(key), dict) or not baselines[key]:
                found.append(f"baselines.{key}: expected a non-empty object")
    return found


def check(results: Any) -> None:
    """Raise SchemaError listing every problem, if any."""
    found = problems(results)
    if found:
        raise SchemaError("bench results are malformed:\n  " + "\n  ".join(found))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.schema RESULTS.json", file=sys.stderr)
        return 2
    try:
        check(json.loads(Path(argv[0]).read_text()))
    except (OSError, json.JSONDecodeError, SchemaError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{argv[0]}: the results file is well-formed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
