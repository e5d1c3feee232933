"""Shared documents: edits between editors on two replicas, opening a long log, and the
assistant writing into a document while people type.

Every editor is a pycrdt document speaking y-websocket to daphne (``harness.document_client``),
all driven from this process.

- Propagation: each editor types one character every 1/``rate_hz`` s at a random place; the
  server relays each update's bytes as they were sent, so a receiver finds when each update it
  gets was sent. Latency is receive time - send time, over every (update, other editor) pair.
  Afterwards every editor resyncs, and ``converged`` says whether all editors and the server
  hold the same text.
- Open: a document whose log holds ``updates`` single-keystroke updates; the figure is from
  the socket's connect to the editor holding the server's state (its first STEP2), before and
  after the housekeeping compaction merges the log into the snapshot.
- Assistant: the same request written once by plain llama-cpp-python in this process (worker
  idle) and once through the stack while ``typists`` people type at the top of the document; a
  passive editor times the assistant's updates as they arrive. Efficiency = tokens/s reaching
  that editor / the plain run's tokens/s, for the same text.
"""

import asyncio
import contextlib
import random
import statistics
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.test import override_settings
from pycrdt import Doc, Text

from documents import protocol
from documents.crdt import TEXT_NAME
from documents.models import Document, DocumentUpdate, DocumentWrite
from documents.selectors import document_state_get, document_text_get
from documents.services import document_compact, document_create
from documents.writes import write_request
from documents.writing import CoAuthor, write_brief
from harness.document_client import DocumentPeer, document_peer
from llm.prompt import Turn

from .context import Bench
from .reference import decode_rate, plain_run, reference_model
from .stats import r, summary_ms

WRITE_TIMEOUT_S = 300
_typing = random.Random(4)  # noqa: S311 - where people type, not secrets
# A long write (the tiny model counts until LLM_MAX_TOKENS, as in the long-answer figure), so
# that the rate is taken over many frames and people type all along.
WRITE_REQUEST = "Write the numbers from 1 to 1000 in words, one per line: one, two, three, ..."


def _writer(update: bytes) -> int:
    """The client that wrote an update (each editor's updates hold its own items only): a Yjs
    update starts with the number of clients, then the first one's struct count and id."""
    reader = protocol.Reader(update)
    reader.var_uint()
    reader.var_uint()
    return reader.var_uint()


class _Timed:
    """Reads one editor's socket, timing each update that some editor here sent."""

    def __init__(self, peer: DocumentPeer, sent: dict[bytes, float], latencies: list[float]):
        self.peer, self.sent, self.latencies = peer, sent, latencies
        self.arrivals: list[tuple[float, bytes]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            frame = await self.peer.socket.recv()
            now = time.perf_counter()
            if isinstance(frame, bytes):
                message = protocol.message_read(frame)
                if message.kind == protocol.Kind.SYNC_UPDATE:
                    self.arrivals.append((now, message.payload))
                    if message.payload in self.sent:
                        self.latencies.append(now - self.sent[message.payload])
            await self.peer.handle(frame)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def _type(
    peer: DocumentPeer,
    sent: dict[bytes, float],
    *,
    rate_hz: float,
    until: float,
    at_top: bool = False,
) -> int:
    """Type one character every 1/rate_hz s until ``until``; how many were typed."""
    typed = 0
    await asyncio.sleep(_typing.random() / rate_hz)  # editors out of step, as people are
    while time.perf_counter() < until:
        index = 0 if at_top else _typing.randint(0, len(peer.content))
        peer.insert(index, _typing.choice("abcdefghij "))
        for update in peer._unsent:  # the bytes that go out, to time them
            sent[update] = time.perf_counter()
        await peer.send()
        typed += 1
        await asyncio.sleep(1 / rate_hz)
    return typed


async def _propagation(
    bench: Bench, document: Document, *, editors: int, duration_s: float, rate_hz: float
) -> dict[str, Any]:
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    async with _editors(bench, document, editors) as peers:
        readers = [_Timed(peer, sent, latencies) for peer in peers]
        until = time.perf_counter() + duration_s
        typed = await asyncio.gather(
            *(_type(peer, sent, rate_hz=rate_hz, until=until) for peer in peers)
        )
        await asyncio.sleep(2)  # the last updates arrive
        for reader in readers:
            await reader.stop()
        for peer in peers:
            await peer.resync()
        texts = {peer.content for peer in peers}
    server = await sync_to_async(document_text_get)(document_id=document.pk)
    return {
        "editors": editors,
        "replicas": 2,
        **{key: value for key, value in summary_ms(latencies).items() if key in ("p50", "p99")},
        "converged": texts == {server},
        "updates": sum(typed),
        "deliveries": len(latencies),
        "expected_deliveries": sum(typed) * (editors - 1),
        "rate_hz_per_editor": rate_hz,
    }


class _editors:
    """``count`` members' editors on the document, alternating between the two replicas."""

    def __init__(self, bench: Bench, document: Document, count: int) -> None:
        self.bench, self.document, self.count = bench, document, count
        self._contexts: list[Any] = []

    async def __aenter__(self) -> list[DocumentPeer]:
        world = self.bench.world
        peers = []
        for i in range(self.count):
            context = document_peer(
                self.bench.stack.web_stack(i),
                self.document.pk,
                world.members[i],
                cookie=world.cookies[i],
            )
            peers.append(await context.__aenter__())
            self._contexts.append(context)
        return peers

    async def __aexit__(self, *exc: object) -> None:
        for context in reversed(self._contexts):
            await context.__aexit__(None, None, None)


def _document_with_log(bench: Bench, *, updates: int) -> Document:
    """A document whose log holds ``updates`` single-keystroke updates (a few pages typed)."""
    document = document_create(
        workspace=bench.world.workspace, title=f"Typed {updates}", created_by=bench.world.asker
    )
    doc: Doc = Doc()
    text = doc.get(TEXT_NAME, type=Text)
    log: list[bytes] = []
    doc.observe(lambda event: log.append(event.update))
    sentence = "The launch plan grows one keystroke at a time. "
    for n in range(updates):
        text.insert(len(text), sentence[n % len(sentence)])
    DocumentUpdate.objects.bulk_create(
        [DocumentUpdate(document=document, data=update, size=len(update)) for update in log],
        batch_size=1000,
    )
    return document


async def _open_ms(bench: Bench, document: Document, *, runs: int) -> list[float]:
    world = bench.world
    times = []
    for i in range(runs):
        started = time.perf_counter()
        async with document_peer(
            bench.stack.web_stack(i), document.pk, world.asker, cookie=world.cookies[0]
        ):
            times.append(time.perf_counter() - started)
    return times


def _open(bench: Bench, *, updates: int, runs: int) -> dict[str, Any]:
    document = _document_with_log(bench, updates=updates)
    before = asyncio.run(_open_ms(bench, document, runs=runs))
    started = time.perf_counter()
    document_compact(document_id=document.pk)
    compaction_s = time.perf_counter() - started
    after = asyncio.run(_open_ms(bench, document, runs=runs))
    return {
        "updates": updates,
        "before_compaction": r(statistics.median(before) * 1000),
        "after_compaction": r(statistics.median(after) * 1000),
        "runs": runs,
        "compaction_ms": r(compaction_s * 1000),
    }


async def _assistant_write(
    bench: Bench, document: Document, *, typists: int, rate_hz: float
) -> tuple[DocumentWrite, list[float], int]:
    """The write through the stack while ``typists`` type at the top; arrival times at a
    passive editor of the assistant's updates, and how many characters people typed."""
    people_sent: dict[bytes, float] = {}
    async with _editors(bench, document, typists + 1) as peers:
        typing = peers[1:]  # peers[0] watches: its reader times the assistant's updates
        people = {peer.doc.client_id for peer in peers}
        # Every editor reads its socket, as a browser does: an unread socket stops answering
        # keepalive pings once its buffers fill, and the client closes it.
        reader, *typists_reading = [_Timed(peer, {}, []) for peer in peers]
        write = await sync_to_async(write_request)(
            document=document, by=bench.world.asker, instruction=WRITE_REQUEST
        )
        deadline = time.perf_counter() + WRITE_TIMEOUT_S
        while not reader.arrivals and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        typed = 0
        while time.perf_counter() < deadline:
            second = time.perf_counter() + 1
            typed += sum(await asyncio.gather(*(
                _type(peer, people_sent, rate_hz=rate_hz, until=second, at_top=True)
                for peer in typing
            )))  # fmt: skip
            await sync_to_async(write.refresh_from_db)()
            if write.status not in DocumentWrite.ACTIVE_STATUSES:
                break
        await asyncio.sleep(1)
        for each in (reader, *typists_reading):
            await each.stop()
    arrivals = [at for at, update in reader.arrivals if _writer(update) not in people]
    return write, arrivals, typed


def _assistant(bench: Bench, *, typists: int, rate_hz: float) -> dict[str, Any]:
    document = document_create(
        workspace=bench.world.workspace, title="Launch checklist", created_by=bench.world.asker
    )
    state = document_state_get(document_id=document.pk)
    requester = bench.world.asker.get_username()
    brief = write_brief(
        instruction=WRITE_REQUEST,
        requester=requester,
        author=CoAuthor(state, anchor=None, head=None),
    )
    plain = plain_run(
        bench.model, [Turn(speaker=requester, text=brief.prompt)], system=brief.system
    )
    write, arrivals, typed = asyncio.run(
        _assistant_write(bench, document, typists=typists, rate_hz=rate_hz)
    )
    # The write's own tokens over its own frames' arrivals: batched decoding (the engine) need
    # not pick exactly the tokens plain llama-cpp-python does, so the texts may differ.
    written_tokens = bench.model.token_count(write.written)
    editor_rate = (
        decode_rate(written_tokens, arrivals[0], arrivals[-1]) if len(arrivals) > 1 else 0.0
    )
    return {
        "efficiency": r(editor_rate / plain.tokens_per_s, 3) if plain.tokens_per_s else None,
        "same_text": write.written == plain.text,
        "status": write.status,
        "completion_tokens": written_tokens,
        "plain_completion_tokens": plain.completion_tokens,
        "plain_tokens_per_s": r(plain.tokens_per_s, 2),
        "editor_tokens_per_s": r(editor_rate, 2),
        "frames": len(arrivals),
        "typists": typists,
        "characters_typed_meanwhile": typed,
        "final_text_has_both": write.written in document_text_get(document_id=document.pk),
    }


def measure_editing(bench: Bench) -> dict[str, Any]:
    """Propagation at 2 and 20 editors, and opening a long log (no model needed)."""
    config = bench.config
    points = []
    for editors in config.document_editors:
        document = document_create(
            workspace=bench.world.workspace,
            title=f"{editors} editors",
            created_by=bench.world.asker,
        )
        point = asyncio.run(
            _propagation(
                bench,
                document,
                editors=editors,
                duration_s=config.document_typing_s,
                rate_hz=config.document_typing_hz,
            )
        )
        bench.progress(
            f"   {editors} editors: p50 {point['p50']} ms, p99 {point['p99']} ms, "
            f"converged {point['converged']}"
        )
        points.append(point)
    opened = _open(bench, updates=config.document_log_updates, runs=config.document_opens)
    bench.progress(
        f"   open with {opened['updates']} updates: {opened['before_compaction']} ms, "
        f"compacted {opened['after_compaction']} ms"
    )
    return {"document_edit_propagation_ms": points, "document_open_ms": opened}


def measure_assistant(bench: Bench, *, label: str = "") -> dict[str, Any]:
    """The assistant writing while people type (needs the model worker running)."""
    detail = _assistant(
        bench, typists=bench.config.document_typists, rate_hz=bench.config.document_typing_hz
    )
    bench.progress(
        f"   assistant into a document{label}: efficiency {detail['efficiency']} "
        f"({detail['editor_tokens_per_s']} / {detail['plain_tokens_per_s']} tokens/s)"
    )
    return detail


def measure(bench: Bench) -> dict[str, Any]:
    bench.progress("9. shared documents: edits between replicas, opening a long log")
    results = measure_editing(bench)
    bench.progress("10. the assistant writing into a document while people type")
    bench.stack.start_worker()
    try:
        detail = measure_assistant(bench)
    finally:
        bench.stack.stop_worker()
    # On two cores, llama.cpp's two threads share them with the typists' daphne and the
    # frames' commits; with one model thread the pipeline has a core, as beside a GPU. (The
    # smoke run's model has one thread already: its run above is that figure.)
    detail["one_model_thread"] = (
        dict(detail) if bench.config.smoke else _measure_assistant_one_model_thread(bench)
    )
    results["assistant_document_efficiency"] = detail["efficiency"]
    results["assistant_document"] = detail
    return results


def _measure_assistant_one_model_thread(bench: Bench) -> dict[str, Any]:
    bench.stack.start_worker(LLM_N_THREADS="1")
    try:
        with override_settings(LLM_N_THREADS=1):
            bench.model = reference_model()
            return measure_assistant(bench, label=" (LLM_N_THREADS=1)")
    finally:
        bench.model = reference_model()  # the one-thread model was let go: load it again
        bench.stack.stop_worker()
