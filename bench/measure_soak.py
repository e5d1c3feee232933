"""The soak (``--only soak``): hours of use pressed into minutes, then whether the stack gives
back what it took once everyone has left.

Waves of people, until ``--soak-minutes`` (10 by default) have passed. In each wave,
``soak_sockets`` sockets are open at once across the two daphne replicas: two editors on each
of ``soak_documents`` documents (one per replica), who say where their cursor is and type a
character a second; the others on ``soak_threads`` threads, where they read everything and post
about ``soak_posts_per_s`` messages a second between them, ``soak_mentions`` of which ask the
assistant, whose answers stream from the real model worker (the bundled model, one thread,
short answers). Each wave adds a text source, which the ingest worker reads and indexes. Once
the answers have ended and the source is indexed, everyone leaves, and the next wave comes.

Every SAMPLE_EVERY_S the bench records, for each daphne, each worker and Redis, the resident
memory (RSS) and open file descriptors; Redis's keys and memory; and the channel layer's groups:
each topic that some process follows and how many processes follow it (their Pub/Sub
subscriptions, read from Redis). A daphne process follows a topic while any of its sockets is
in the topic's fan-out, so a socket that left but was kept as a member keeps its topic followed:
no group left at the end means no member was kept.

The first wave is a warm-up and is not counted: it fills what is filled once (connection pools,
caches, the model's kept states, lazy imports). "start" is measured once its people have left,
"end" once the last wave's people have left; each ``soak_quiet_s`` (35 s: daphne frees the
closed sockets' memory 30 s after they close) after the last socket closed, then once (within
SETTLE_TIMEOUT_S) the daphnes hold no client connection, no topic is followed and every key
that expires by design (presence, rate-limit windows) has. The soak is ``ok`` when every
socket of every wave connected, no group is left and no figure at the end is more than 10 %
above its start.
"""

import asyncio
import contextlib
import os
import random
import threading
import time
from collections import Counter
from typing import Any

import psutil
import redis
from django.conf import settings
from django.db.models import Count

from chat.models import Message, Thread
from documents.models import Document
from documents.services import document_create
from harness.document_client import DocumentPeer, document_peer
from harness.live_stack import ingest_worker_start, processes_stop
from knowledge.models import Source
from knowledge.services import source_add_file
from realtime.channel_layer import groups_followed

from .context import Bench
from .stack import LOG_DIR
from .stats import r

MIB = 1024 * 1024
TOLERANCE = 0.10  # each figure at the end may be at most this much above its start
SAMPLE_EVERY_S = 10
SETTLE_TIMEOUT_S = 90  # presence entries live 60 s after a replica dies; rate windows 10 s
WAVE_END_TIMEOUT_S = 300  # for the wave's answers to end and its source to be indexed
EDITORS_PER_DOCUMENT = 2  # one on each replica
TYPING_HZ = 1.0
# The model worker: one model thread, short answers (the soak is about memory, not speed).
WORKER_ENV = {"LLM_N_THREADS": "1", "LLM_MAX_TOKENS": "48", "LLM_KEPT_STATES_MIB": "16"}
WARM_UP = "one wave, not counted; start is measured after its people left"


class _Recorder:
    """The watched processes and Redis, sampled every SAMPLE_EVERY_S on a thread of its own."""

    def __init__(
        self, processes: dict[str, psutil.Process], client: redis.Redis, web_ports: list[int]
    ) -> None:
        self.processes, self.client, self.web_ports = processes, client, web_ports
        self.sockets = 0  # open now, as the bench counts them
        self.samples: list[dict[str, Any]] = []
        self.error: str | None = None
        self._began = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            try:
                self.samples.append(self.snapshot())
            except Exception as exc:  # a process gone: said in the results, and not ok
                self.error = f"{type(exc).__name__}: {exc}"
                return

    def snapshot(self) -> dict[str, Any]:
        groups = groups_followed(self.client)
        memory = self.client.info("memory")
        return {
            "t_s": r(time.monotonic() - self._began, 1),
            "sockets": self.sockets,
            "rss_mib": {
                name: r(process.memory_info().rss / MIB, 1)
                for name, process in self.processes.items()
            },
            "fds": {name: process.num_fds() for name, process in self.processes.items()},
            "threads": {name: process.num_threads() for name, process in self.processes.items()},
            "redis_keys": self.client.dbsize(),
            "redis_memory_mib": r(memory["used_memory"] / MIB, 2),
            "redis_dataset_mib": r(memory["used_memory_dataset"] / MIB, 3),
            "redis_clients": self.client.info("clients")["connected_clients"],
            "groups": len(groups),
            "group_members": sum(groups.values()),
            "largest_group": max(groups.values(), default=0),
        }

    def settle(self, quiet_s: float) -> float | None:
        """Wait ``quiet_s``, then until the web processes hold no client's connection, no topic is
        followed and no key is left to expire; how long it took."""
        began = time.monotonic()
        time.sleep(quiet_s)
        while time.monotonic() - began < SETTLE_TIMEOUT_S:
            expiring = self.client.info("keyspace").get(f"db{_database(self.client)}", {})
            if (
                not self._clients_connected()
                and not groups_followed(self.client)
                and not expiring.get("expires")
            ):
                break
            time.sleep(0.5)
        return r(time.monotonic() - began, 1)

    def redis_contents(self) -> dict[str, Any]:
        """What Redis holds (each key's bytes, up to 100 keys) and its clients, by their last
        command: which pool or subscriber each connection belongs to, roughly."""
        keys = [key.decode() for key in self.client.scan_iter(count=1000)][:100]
        commands = Counter(client["cmd"] for client in self.client.client_list())
        return {
            "keys": {key: self.client.memory_usage(key) for key in sorted(keys)},
            "clients_by_last_command": dict(commands.most_common()),
        }

    def _clients_connected(self) -> int:
        return sum(
            1
            for name, process in self.processes.items()
            if name.startswith("daphne")
            for connection in process.net_connections(kind="tcp")
            if connection.laddr and connection.laddr.port in self.web_ports and connection.raddr
        )

    def inventory(self) -> dict[str, Any]:
        """What the processes' descriptors are and what Redis holds: at the start and end."""
        return {"open_files": self.open_files(), "redis": self.redis_contents()}

    def open_files(self) -> dict[str, dict[str, int]]:
        """What each process's descriptors are: files, TCP and Unix sockets, the rest."""
        kinds = {}
        for name, process in self.processes.items():
            tcp = len(process.net_connections(kind="tcp"))
            unix = len(process.net_connections(kind="unix"))
            files = len(process.open_files())
            other = process.num_fds() - tcp - unix - files
            kinds[name] = {"files": files, "tcp": tcp, "unix": unix, "other": other}
        return kinds


def _database(client: redis.Redis) -> int:
    return int(client.connection_pool.connection_kwargs.get("db", 0))


class _Editors:
    """Two editors on each document, one per replica, typing for ``seconds``: on a thread of
    their own, so that the bench meanwhile drives the thread sockets."""

    def __init__(self, bench: Bench, documents: list[Document], seconds: float) -> None:
        self.bench, self.documents, self.seconds = bench, documents, seconds
        self.connected = 0
        self.most_connected = 0
        self.typed = 0
        self.errors: list[str] = []
        self._random = random.Random(len(documents))  # noqa: S311 - what is typed, not secrets
        self._thread = threading.Thread(target=lambda: asyncio.run(self._all()), daemon=True)

    def __enter__(self) -> "_Editors":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.join()

    def wait_connected(self) -> None:
        """Until every editor is connected (or the editing is over)."""
        every = len(self.documents) * EDITORS_PER_DOCUMENT
        while self._thread.is_alive() and self.connected < every:
            time.sleep(0.1)

    async def _all(self) -> None:
        until = time.monotonic() + self.seconds
        world = self.bench.world
        editors = [
            (document, replica, len(world.members) - 1 - (i * EDITORS_PER_DOCUMENT + replica))
            for i, document in enumerate(self.documents)
            for replica in range(EDITORS_PER_DOCUMENT)
        ]
        outcomes = await asyncio.gather(
            *(
                self._edit(document, replica, person, until)
                for document, replica, person in editors
            ),
            return_exceptions=True,
        )
        self.errors += [f"{type(e).__name__}: {e}" for e in outcomes if isinstance(e, Exception)]

    async def _edit(self, document: Document, replica: int, person: int, until: float) -> None:
        world = self.bench.world
        async with document_peer(
            self.bench.stack.web_stack(replica),
            document.pk,
            world.members[person],
            cookie=world.cookies[person],
        ) as peer:
            self.connected += 1
            self.most_connected = max(self.most_connected, self.connected)
            reading = asyncio.create_task(_read(peer))  # as a browser does, all along
            try:
                await peer.say_present({"cursor": {"anchor": 0}})
                while time.monotonic() < until:
                    peer.insert(len(peer.content), self._random.choice("abcdefghij "))
                    await peer.send()
                    self.typed += 1
                    await asyncio.sleep(1 / TYPING_HZ)
            finally:
                reading.cancel()
                self.connected -= 1


async def _read(peer: DocumentPeer) -> None:
    while True:
        await peer.handle(await peer.socket.recv())


def _notes(wave: int) -> bytes:
    """A page of a team's notes, a source to index."""
    lines = [
        f"Wave {wave}, item {n}: the release checklist names an owner for step {n}, "
        f"and the owner confirms it in the thread before the demo."
        for n in range(40)
    ]
    return "\n".join(lines).encode()


def _post(bench: Bench, wave: int) -> int:
    """The thread sockets post for the wave's length, some asking the assistant; how many."""
    config, pool = bench.config, bench.pool
    # How many sockets each client process holds (one list of events per socket).
    held = [len(sockets) for sockets in pool.call_all("collect", [{"kinds": ["-"]}] * len(pool))]
    posts = int(config.soak_wave_s * config.soak_posts_per_s)
    mention_every = max(1, posts // max(1, config.soak_mentions))
    chooser = random.Random(wave)  # noqa: S311 - who speaks, not secrets
    starts = time.monotonic() + 0.5
    schedules: list[list[tuple[int, float, str]]] = [[] for _ in held]
    for k in range(posts):
        child = k % len(held)
        if not held[child]:
            continue
        if k % mention_every == 0 and k // mention_every < config.soak_mentions:
            body = f"@assistant in one sentence, what should we check before release {wave}?"
        else:
            body = f"Wave {wave}, note {k}: the build is green and the demo is at three."
        at = starts + k / config.soak_posts_per_s
        schedules[child].append((chooser.randrange(held[child]), at, body))
    pool.call_all("chat", [{"schedule": schedule} for schedule in schedules])
    return sum(len(schedule) for schedule in schedules)


def _wave_ended(threads: list[Thread], source: Source) -> bool:
    """Wait until the threads' answers have ended and the source is indexed (or failed)."""
    deadline = time.monotonic() + WAVE_END_TIMEOUT_S
    while time.monotonic() < deadline:
        answering = Message.objects.filter(
            thread__in=threads, status__in=Message.ACTIVE_STATUSES
        ).exists()
        reading = Source.objects.filter(pk=source.pk, status__in=Source.ACTIVE_STATUSES).exists()
        if not answering and not reading:
            return True
        time.sleep(0.5)
    return False


def _wave(
    bench: Bench, recorder: _Recorder, threads: list[Thread], documents: list[Document], n: int
) -> dict[str, Any]:
    config, pool, world = bench.config, bench.pool, bench.world
    replicas = len(bench.stack.webs)
    urls = [
        bench.stack.ws_url(replica, thread.pk) for thread in threads for replica in range(replicas)
    ]
    opened = pool.connect(
        urls=urls,
        cookies=world.cookies,
        count=config.soak_sockets - len(documents) * EDITORS_PER_DOCUMENT,
    )
    recorder.sockets = opened["open"]
    source = source_add_file(
        workspace=world.workspace,
        added_by=world.asker,
        name=f"notes-{n}.txt",
        content_type="text/plain",
        data=_notes(n),
    )
    with _Editors(bench, documents, config.soak_wave_s) as editors:
        editors.wait_connected()
        recorder.sockets = opened["open"] + editors.connected
        posted = _post(bench, n)
    ended = _wave_ended(threads, source)
    pool.close_all()
    recorder.sockets = 0
    return {
        "wave": n,
        "sockets_open": opened["open"] + editors.most_connected,
        "sockets_failed": opened["failed"],
        "connect_errors": opened["errors"],  # the first few
        "posted": posted,
        "typed": editors.typed,
        "editor_errors": editors.errors[:3],
        "ended_in_time": ended,
    }


def _processes(bench: Bench, ingest: Any, client: redis.Redis) -> dict[str, psutil.Process]:
    processes = {f"daphne-{i}": bench.stack.web_process(i) for i in range(len(bench.stack.webs))}
    worker = bench.stack.worker_process()
    assert worker is not None, "the model worker is started first"
    processes["worker-llm"] = worker
    processes["worker-ingest"] = psutil.Process(ingest.pid)
    # Redis on this machine: embedded, or the server REDIS_URL names.
    with contextlib.suppress(psutil.Error, KeyError, ValueError):
        processes["redis"] = psutil.Process(int(client.info("server")["process_id"]))
    return processes


def _problems(start: dict[str, Any], end: dict[str, Any]) -> list[str]:
    """Every figure that ended more than TOLERANCE above its start, and every group left."""

    def grown(before: float, after: float) -> bool:
        return after > before * (1 + TOLERANCE)

    found = [
        f"{what} of {name}: {start[key][name]} -> {end[key][name]}"
        for key, what in (("rss_mib", "RSS (MiB)"), ("fds", "open files"))
        for name in start[key]
        if grown(start[key][name], end[key][name])
    ]
    found += [
        f"{key}: {start[key]} -> {end[key]}"
        for key in ("redis_keys", "redis_memory_mib")
        if grown(start[key], end[key])
    ]
    if end["groups"]:
        found.append(f"{end['groups']} topics still followed after everyone left")
    return found


def measure(bench: Bench) -> dict[str, Any]:
    config = bench.config
    bench.progress(
        f"soak: {config.soak_minutes:g} min of waves of {config.soak_sockets} sockets, "
        f"{config.soak_documents} documents, {config.soak_threads} threads"
    )
    world = bench.world
    threads = [world.thread(f"Soak {i}") for i in range(config.soak_threads)]
    documents = [
        document_create(workspace=world.workspace, title=f"Soak {i}", created_by=world.asker)
        for i in range(config.soak_documents)
    ]
    bench.stack.start_worker(**WORKER_ENV)
    ingest = ingest_worker_start(bench.stack.env, log_dir=LOG_DIR)
    client = redis.Redis.from_url(settings.REDIS_URL)
    load_before = os.getloadavg()
    recorder = _Recorder(_processes(bench, ingest, client), client, bench.stack.ports)
    try:
        recorder.start()
        warm_up = _wave(bench, recorder, threads, documents, 0)
        bench.progress(f"   warm-up wave: {warm_up}")
        settled_start = recorder.settle(config.soak_quiet_s)
        start = recorder.snapshot() | recorder.inventory()
        began = time.monotonic()
        waves: list[dict[str, Any]] = []
        while time.monotonic() - began < config.soak_minutes * 60:
            waves.append(_wave(bench, recorder, threads, documents, len(waves) + 1))
            bench.progress(
                f"   wave {waves[-1]}; {recorder.samples[-1] if recorder.samples else ''}"
            )
        minutes = (time.monotonic() - began) / 60
        settled_end = recorder.settle(config.soak_quiet_s)
        end = recorder.snapshot() | recorder.inventory()
    finally:
        recorder.stop()
        processes_stop([ingest])
        bench.stack.stop_worker()
        client.close()
    problems = _problems(start, end)
    if recorder.error:
        problems.append(f"a process could not be sampled: {recorder.error}")
    problems += [
        f"wave {w['wave']}: answers or indexing did not end"
        for w in waves
        if not w["ended_in_time"]
    ]
    problems += [
        f"wave {w['wave']}: {w['sockets_failed']} sockets did not connect, editors failed "
        f"{w['editor_errors']} ({w['connect_errors']})"
        for w in waves
        if w["sockets_failed"] or w["editor_errors"]
    ]
    answers = dict(
        Message.objects.filter(thread__in=threads, role=Message.Role.ASSISTANT)
        .values_list("status")
        .annotate(n=Count("id"))
    )
    soak = {
        "minutes": r(minutes, 1),
        "sockets_peak": max(w["sockets_open"] for w in [warm_up, *waves]),
        "rss_mib": {"start": start["rss_mib"], "end": end["rss_mib"]},
        "redis_keys": {"start": start["redis_keys"], "end": end["redis_keys"]},
        "redis_memory_mib": {"start": start["redis_memory_mib"], "end": end["redis_memory_mib"]},
        "fds": {"start": start["fds"], "end": end["fds"]},
        "groups_left": end["groups"],
        "ok": not problems,
    }
    details = {
        "warm_up": WARM_UP,
        "tolerance": TOLERANCE,
        "problems": problems,
        "waves": len(waves),
        "posted": sum(w["posted"] for w in waves),
        "typed": sum(w["typed"] for w in waves),
        "answers": answers,
        "sources_indexed": Source.objects.filter(
            workspace=world.workspace, status=Source.Status.READY
        ).count(),
        "settled_s": {"start": settled_start, "end": settled_end},
        "worker_env": WORKER_ENV,
        "load_average_before": [r(x, 2) for x in load_before],
        "wave_runs": [warm_up, *waves],
        "samples": recorder.samples,
        "start": start,
        "end": end,
    }
    bench.progress(f"   soak ok: {soak['ok']} {problems}")
    return {"soak": soak, "soak_details": details}
