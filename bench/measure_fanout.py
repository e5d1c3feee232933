"""Figures 3 and 5: fan-out delay to N clients, and the memory an idle connection costs.

A synthetic generator in the bench process plays the worker's part: it calls
``chat.events.broadcast_frame`` (what ``chat.replies.reply_frame_send`` calls) at a fixed rate
for a streaming reply, noting each frame's send time. N clients in separate processes note when each
frame arrives (same monotonic clock). Delay = arrival - send, over every (client, frame).
"""

import time
from typing import Any

import psutil

from chat import events
from chat.models import Message, Thread

from .context import Bench
from .stats import r, summary_ms

READY_TIMEOUT_S = 60
PIECE = "token{n} "  # frames of a few words each, as coalesced frames carry


def _streaming_reply(thread: Thread) -> Message:
    return Message.objects.create(
        thread=thread, role=Message.Role.ASSISTANT, status=Message.Status.STREAMING
    )


def connect(bench: Bench, thread: Thread, *, clients: int, replicas: int) -> dict[str, Any]:
    """Open ``clients`` sockets on the thread, spread over ``replicas`` daphne processes."""
    stack, world = bench.stack, bench.world
    return bench.pool.connect(
        urls=[stack.ws_url(i, thread.pk) for i in range(replicas)],
        cookies=world.cookies,
        count=clients,
    )


def wait_ready(bench: Bench, thread: Thread, expected: int) -> int:
    """Send probe frames until every socket has joined the group (or the timeout)."""
    probe = _streaming_reply(thread)
    pool = bench.pool
    deadline = time.monotonic() + READY_TIMEOUT_S
    ready = 0
    seq = 0
    while time.monotonic() < deadline:
        seq += 1  # a repeated frame is shown once: each probe is a new one
        events.broadcast_frame(probe, seq=seq, delta="")
        answers = pool.call_all(
            "wait_for_frame", [{"message_id": probe.pk, "timeout": 0.3}] * len(pool)
        )
        ready = sum(answers)
        if ready >= expected:
            break
    pool.call_all("clear")
    return ready


def stream(
    bench: Bench, thread: Thread, *, clients: int, rate_hz: float, frames: int
) -> dict[str, Any]:
    """Send ``frames`` frames at ``rate_hz``; the delays every client saw, and their order."""
    reply = _streaming_reply(thread)
    watched = [bench.stack.web_process(i) for i in range(len(bench.stack.webs))]
    watched += [psutil.Process(pid) for pid in bench.pool.pids]
    cpu_before = [_cpu(p) for p in watched]
    sent: dict[int, float] = {}
    started = time.monotonic()
    for seq in range(1, frames + 1):
        delay = started + (seq - 1) / rate_hz - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        piece = PIECE.format(n=seq)
        reply.body += piece
        sent[seq] = time.monotonic()
        events.broadcast_frame(reply, seq=seq, delta=piece)
    send_s = time.monotonic() - started
    bench.pool.call_all(
        "wait_frames",
        [{"message_id": reply.pk, "last_seq": frames, "timeout": 30 + frames / rate_hz}]
        * len(bench.pool),
    )
    wall_s = time.monotonic() - started
    cpu_s = [_cpu(p) - before for p, before in zip(watched, cpu_before, strict=True)]
    cpu = [seconds / wall_s for seconds in cpu_s]
    sockets = bench.pool.events(kinds=["frame"])
    bench.pool.call_all("clear")
    delays: list[float] = []
    in_order = 0
    received = 0
    for socket_events in sockets:
        seqs = [e[3] for e in socket_events if e[2] == reply.pk]
        received += len(seqs)
        in_order += seqs == list(range(1, frames + 1))
        delays += [e[0] - sent[e[3]] for e in socket_events if e[2] == reply.pk]
    n_web = len(bench.stack.webs)
    summary = summary_ms(delays)
    return {
        "p50_ms": summary["p50"],
        "p99_ms": summary["p99"],
        "max_ms": summary["max"],
        "all_in_order": bool(sockets) and in_order == len(sockets) == clients,
        "clients_in_order": in_order,
        "frames": frames,
        "frames_received": received,
        "frames_expected": frames * clients,
        "rate_hz": r(rate_hz),
        "achieved_rate_hz": r(frames / send_s if send_s else 0.0),
        "cpu_daphne": [r(c, 2) for c in cpu[:n_web]],
        # What each frame written to a socket costs daphne: readers per core = 1 / (rate x this).
        "daphne_cpu_us_per_delivery": r(sum(cpu_s[:n_web]) / received * 1e6 if received else 0.0),
        "cpu_clients": [r(c, 2) for c in cpu[n_web:]],
    }


def fanout_point(
    bench: Bench, *, clients: int, replicas: int, rate_hz: float, frames: int
) -> dict[str, Any]:
    thread = bench.world.thread(f"fan-out {clients}x{replicas}")
    bench.pool.close_all()
    opened = connect(bench, thread, clients=clients, replicas=replicas)
    ready = wait_ready(bench, thread, opened["open"])
    result = stream(bench, thread, clients=clients, rate_hz=rate_hz, frames=frames)
    bench.pool.close_all()
    return {"clients": clients, "replicas": replicas, "connected": opened["open"],
            "ready": ready, **result}  # fmt: skip


def ramp_and_fanout(bench: Bench, *, rate_hz: float, frames: int) -> tuple[dict, dict]:
    """Open idle sockets on one daphne in steps until one fails or the cap; RSS per step.

    Then stream to all of them: the "as many as one daphne holds" fan-out point.
    Returns (memory figure, fan-out point).
    """
    config, pool = bench.config, bench.pool
    thread = bench.world.thread("ramp")
    pool.close_all()
    daphne = bench.stack.web_process(0)
    time.sleep(0.5)
    rss_before = daphne.memory_info().rss
    samples = [(0, rss_before)]
    held, failed, handshakes = 0, 0, []
    while held < config.ramp_cap:
        step = connect(bench, thread, clients=config.ramp_step, replicas=1)
        held, failed = step["open"], step["failed"]
        handshakes = step["handshake_s"]
        time.sleep(0.5)
        samples.append((held, daphne.memory_info().rss))
        bench.progress(
            f"ramp: {held} sockets open on one daphne, RSS {samples[-1][1] / 2**20:.0f} MiB, "
            f"{failed} failed"
        )
        if failed:
            break
    ready = wait_ready(bench, thread, held)
    time.sleep(0.5)
    rss_idle = daphne.memory_info().rss
    memory = {
        "connections": held,
        "rss_before_mib": r(rss_before / 2**20),
        "rss_after_mib": r(rss_idle / 2**20),
        "per_connection_kib": r((rss_idle - rss_before) / 1024 / held if held else float("nan")),
        "samples": [[n, r(rss / 2**20)] for n, rss in samples],
        "last_step_handshake": summary_ms(handshakes),
        "stopped_by": "a failed connection" if failed else f"the cap ({config.ramp_cap})",
    }
    result = stream(bench, thread, clients=held, rate_hz=rate_hz, frames=frames)
    pool.close_all()
    point = {"clients": held, "replicas": 1, "connected": held, "ready": ready,
             "max_held": True, **result}  # fmt: skip
    return memory, point


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _series(
    bench: Bench,
    counts: tuple[int, ...],
    *,
    replicas: int,
    rate_hz: float,
    frames: int,
    label: str = "",
) -> list[dict[str, Any]]:
    """One fan-out point per client count, each reported as it ends."""
    points = []
    for clients in counts:
        point = fanout_point(
            bench, clients=clients, replicas=replicas, rate_hz=rate_hz, frames=frames
        )
        bench.progress(label + _line(point))
        points.append(point)
    return points


def measure(bench: Bench, *, per_token_rate_hz: float) -> dict[str, Any]:
    config = bench.config
    rate, frames = config.fanout_rate_hz, config.fanout_frames
    points = _series(bench, config.fanout_clients, replicas=1, rate_hz=rate, frames=frames)
    memory, top = ramp_and_fanout(bench, rate_hz=rate, frames=frames)
    bench.progress(_line(top) + " (as many as one daphne held, up to the cap)")
    points.append(top)
    points += _series(bench, config.fanout_replica_clients, replicas=2, rate_hz=rate, frames=frames)
    slower = _series(
        bench, config.slower_frames_clients, replicas=1, rate_hz=config.slower_frames_rate_hz,
        frames=frames, label="slower frames: ",
    )  # fmt: skip
    per_token = _series(
        bench, config.per_token_clients, replicas=1, rate_hz=per_token_rate_hz,
        frames=config.per_token_frames, label="per-token baseline: ",
    )  # fmt: skip
    return {
        "fanout": points,
        "slower_frames_fanout": slower,
        "memory": memory,
        "per_token_fanout": per_token,
    }


def _line(point: dict[str, Any]) -> str:
    return (
        f"fan-out {point['clients']} clients x {point['replicas']} daphne at "
        f"{point['rate_hz']} Hz: p50 {point['p50_ms']} ms, p99 {point['p99_ms']} ms, "
        f"max {point['max_ms']} ms, in order: {point['all_in_order']} "
        f"(daphne CPU {point['cpu_daphne']}, {point['daphne_cpu_us_per_delivery']} us per "
        f"delivery; clients CPU {point['cpu_clients']})"
    )
