"""Where the pipeline's time goes during a long answer: py-spy on the worker and on daphne.

    python -m bench.profile            # needs py-spy (pip install py-spy); not part of make bench

Runs one long-answer mention through the stack while py-spy samples the worker and daphne, then
prints each process's CPU time and the functions (self + children) that took the most samples.
"""

import collections
import gc
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import environment
from .clients import ClientPool, raise_open_files_limit

TOP = 25
OWN_CODE = (
    "chat/", "llm/", "workspace/", "channels", "daphne", "markdown_it", "nh3", "django/",
    "autobahn", "twisted", "redis", "msgpack", "llama_cpp", "asyncio",
)  # fmt: skip
FANOUT_CLIENTS = 200


def _summary(raw: Path) -> list[tuple[str, float]]:
    """Share of samples each frame of interest appears in, from py-spy's raw output."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        frames = {
            re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if any(k in f for k in OWN_CODE)
        }
        for frame in frames:
            inclusive[frame] += samples
    return [(frame, n / total) for frame, n in inclusive.most_common(TOP)] if total else []


def _spy(spy: str, pid: int, output: Path) -> subprocess.Popen[bytes]:
    args = ["record", "--pid", str(pid), "--rate", "200", "--format", "raw", "--nonblocking"]
    return subprocess.Popen(
        [spy, *args, "--output", str(output)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _free_models() -> None:
    from llm.model import models_unload

    models_unload(wait=True)
    gc.collect()


def main() -> int:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 1
    raise_open_files_limit()
    env = environment.prepare()
    import django

    django.setup()
    from .context import Bench, Config
    from .measure_efficiency import LONG_QUESTION, paired_run
    from .measure_fanout import connect, stream, wait_ready
    from .reference import reference_model
    from .stack import BenchStack
    from .world import world_create

    world = world_create(members=2)
    pool = ClientPool(2)
    stack = BenchStack(web_processes=1)
    bench = Bench(Config.for_run(smoke=False), world, stack, pool, reference_model())
    out = environment.VAR / "bench-profile"
    out.mkdir(parents=True, exist_ok=True)
    try:
        stack.start_worker(**dict(item.split("=", 1) for item in sys.argv[1:]))
        worker = stack.worker_process()
        assert worker is not None
        daphne = stack.web_process(0)
        watched = {"worker": worker, "daphne": daphne}
        spies = [_spy(spy, p.pid, out / f"{name}.txt") for name, p in watched.items()]
        time.sleep(1)
        before = {name: sum(p.cpu_times()[:2]) for name, p in watched.items()}
        started = time.monotonic()
        run = paired_run(bench, "long answer", LONG_QUESTION)
        wall = time.monotonic() - started
        cpu = {name: round(sum(p.cpu_times()[:2]) - before[name], 1) for name, p in watched.items()}
        for spy_process in spies:
            spy_process.send_signal(2)
            spy_process.wait(timeout=30)
        stack.stop_worker()
        thread = world.thread("profile fan-out")
        connect(bench, thread, clients=FANOUT_CLIENTS, replicas=1)
        wait_ready(bench, thread, FANOUT_CLIENTS)
        fan_spy = _spy(spy, daphne.pid, out / "daphne-fanout.txt")
        time.sleep(0.5)
        point = stream(bench, thread, clients=FANOUT_CLIENTS, rate_hz=25.0, frames=50)
        fan_spy.send_signal(2)
        fan_spy.wait(timeout=30)
    finally:
        pool.shutdown()
        stack.close()
        env.close()
        _free_models()
    _print(run, wall, cpu, point, out)
    return 0


def _print(run: Any, wall: float, cpu: dict[str, float], point: dict, out: Path) -> None:
    print(
        f"long answer: {run.completion_tokens_stack} tokens, {run.frames} frames, efficiency "
        f"{run.efficiency:.3f} ({run.plain_tokens_per_s:.0f} plain, "
        f"{run.client_tokens_per_s:.0f} client tokens/s)"
    )
    print(f"CPU seconds during plain + stack run ({wall:.1f} s wall): {cpu}")
    print(f"fan-out {FANOUT_CLIENTS} clients at 25 Hz: {point}")
    for name in ("worker", "daphne", "daphne-fanout"):
        print(f"\n{name}: share of samples per frame (inclusive)")
        for frame, share in _summary(out / f"{name}.txt"):
            print(f"  {share:6.1%}  {frame}")


if __name__ == "__main__":
    sys.exit(main())
