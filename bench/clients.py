"""Many WebSocket (and polling) clients in a few separate processes, driven from the bench.

Each child process runs one asyncio loop holding many sockets; every socket records what it
receives with ``time.monotonic()`` (CLOCK_MONOTONIC, the same clock in every process on Linux),
so the bench compares its own send times with the children's receive times directly.

Children import nothing from Django: they only need URLs and session cookies.
"""

import asyncio
import multiprocessing
import re
import resource
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlsplit

import websockets

# What a socket receives, told apart by shape (see chat/events.py for the contract):
# a frame is the body div alone; a message event carries the whole <article>.
_FRAME = re.compile(r'^<div id="message-(\d+)-body"[^>]*data-seq="(\d+)"')
_ARTICLE = re.compile(
    r'<article id="message-(\d+)" class="message (\w+) [^"]*" data-status="(\w+)"'
)
_PING = re.compile(r"chatping-(\d+)-")
_BADGE = re.compile(r'<span id="connection" [^>]*data-state="(\w+)"')
_TRANSCRIPT = '<div id="transcript"'
_COMPOSER_RESET = 'id="composer-body"'  # the server took the message: the box is emptied
_COMPOSER_ERROR = 'id="composer-error"'  # alone: the server refused it, saying why
_PAGE_BODY = r'id="message-{id}-body"[^>]*data-seq="(\d+)"'
_PAGE_STATUS = r'id="message-{id}" class="[^"]*" data-status="(\w+)"'
ENDED = ("done", "failed", "stopped")

# Event tuples: (time, kind, a, b)
#   ("frame", message_id, seq) · ("status", message_id, "role:status") · ("ping", token, 0)
#   ("badge", 0, "live" | "reconnecting"): the page's connection badge
Event = tuple[float, str, int, Any]


def raise_open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def parse(html: str, now: float) -> Event | None:
    frame = _FRAME.match(html)
    if frame:
        return (now, "frame", int(frame[1]), int(frame[2]))
    article = _ARTICLE.search(html)
    if article:
        ping = _PING.search(html)
        if ping and article[2] == "user":
            return (now, "ping", int(ping[1]), 0)
        return (now, "status", int(article[1]), f"{article[2]}:{article[3]}")
    return None


def page_events(html: str, now: float) -> list[Event]:
    """What a page shows beyond ``parse``: its connection badge, and every message of a
    transcript (sent on joining and after Redis was away)."""
    found: list[Event] = []
    if badge := _BADGE.search(html):
        found.append((now, "badge", 0, badge[1]))
    if html.startswith(_TRANSCRIPT):
        found += [(now, "status", int(a[1]), f"{a[2]}:{a[3]}") for a in _ARTICLE.finditer(html)]
    return found


@dataclass
class _Socket:
    ws: Any
    events: list[Event] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    live: bool = False  # the page's badge says "live"
    typed: str | None = None  # in the composer: not yet taken by the server
    held: bool = False  # typed while not live: sent once the badge says "live"
    refused: bool = False  # the server said why it did not take it: its person sends it again

    async def read(self) -> None:
        try:
            async for data in self.ws:
                html, now = data if isinstance(data, str) else data.decode(), time.monotonic()
                event = parse(html, now)
                if event is not None:
                    self.events.append(event)
                for shown in page_events(html, now):
                    self.events.append(shown)
                    if shown[1] == "badge":
                        self.live = shown[3] == "live"
                        if self.live and self.held:  # as the page does once live again
                            await self.send_typed()
                if _COMPOSER_RESET in html:
                    self.typed = None
                elif _COMPOSER_ERROR in html:
                    self.refused = True
        except websockets.ConnectionClosed:
            pass

    async def send_typed(self) -> None:
        """Send what the composer holds if the page is live; else it is held there."""
        self.held = self.typed is not None and not self.live
        if self.typed is not None and self.live:
            await self.ws.send(_frame(self.typed))


class _Child:
    """The command loop of one client process."""

    def __init__(self) -> None:
        self.sockets: list[_Socket] = []

    async def connect(
        self, urls: Sequence[str], cookies: Sequence[str], count: int, parallel: int
    ) -> dict[str, Any]:
        gate = asyncio.Semaphore(parallel)
        failures: list[str] = []
        handshakes: list[float] = []

        async def one(i: int) -> None:
            async with gate:
                started = time.monotonic()
                try:
                    url = urls[i % len(urls)]
                    ws = await websockets.connect(
                        url,
                        additional_headers={
                            "Cookie": cookies[i % len(cookies)],
                            "Origin": _origin(url),
                        },
                        max_size=None,
                        open_timeout=30,
                    )
                except Exception as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    return
                handshakes.append(time.monotonic() - started)
                sock = _Socket(ws)
                sock.task = asyncio.create_task(sock.read())
                self.sockets.append(sock)

        base = len(self.sockets)
        await asyncio.gather(*(one(base + i) for i in range(count)))
        return {"open": len(self.sockets), "failed": len(failures), "errors": failures[:3],
                "handshake_s": handshakes}  # fmt: skip

    async def wait_for_frame(self, message_id: int, timeout: float) -> int:
        """Wait until every open socket has a frame of ``message_id``; the number that have."""
        deadline = time.monotonic() + timeout

        def have() -> int:
            return sum(
                any(e[1] == "frame" and e[2] == message_id for e in s.events) for s in self.sockets
            )

        while have() < len(self.sockets) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return have()

    async def wait_frames(self, message_id: int, last_seq: int, timeout: float) -> None:
        """Wait until every socket has frame ``last_seq`` (or the timeout)."""
        deadline = time.monotonic() + timeout

        def done(s: _Socket) -> bool:
            return any(
                e[1] == "frame" and e[2] == message_id and e[3] >= last_seq for e in s.events
            )

        while time.monotonic() < deadline and not all(done(s) for s in self.sockets):
            await asyncio.sleep(0.05)

    def clear(self) -> None:
        for sock in self.sockets:
            sock.events.clear()

    def collect(self, index: int | None = None, kinds: Sequence[str] = ()) -> list[list[Event]]:
        chosen = self.sockets if index is None else [self.sockets[index]]
        return [[e for e in s.events if not kinds or e[1] in kinds] for s in chosen]

    async def send(self, index: int, body: str) -> float:
        sent_at = time.monotonic()
        await self.sockets[index].ws.send(_frame(body))
        return sent_at

    async def type_all(self, prefix: str) -> int:
        """Each page types a message and presses Enter; a page that is not live keeps it (see
        ``_Socket.send_typed``). Returns how many were typed."""
        for i, sock in enumerate(self.sockets):
            sock.typed = f"{prefix}-{i}"
            await sock.send_typed()
        return len(self.sockets)

    async def send_kept(self) -> int:
        """Each page whose message the server refused sends it again, as its person would;
        how many composers still hold a message."""
        for sock in self.sockets:
            if sock.refused and sock.typed is not None:
                sock.refused = False
                await sock.send_typed()
        return sum(sock.typed is not None for sock in self.sockets)

    async def chat(self, schedule: Sequence[tuple[int, float, str]]) -> list[float]:
        """Send ``(socket index, monotonic time, body)`` each at its time; the send times."""
        sent: list[float] = []
        for index, at, body in schedule:
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent.append(await self.send(index, body))
        return sent

    async def wait_reply(self, index: int, min_frames: int, timeout: float) -> int | None:
        """The id of the first assistant message socket ``index`` saw since the last clear,
        once it has ``min_frames`` frames."""
        deadline = time.monotonic() + timeout
        sock = self.sockets[index]
        while time.monotonic() < deadline:
            ids = [e[2] for e in sock.events if e[1] == "status" and e[3].startswith("assistant:")]
            if ids:
                frames = sum(e[1] == "frame" and e[2] == ids[0] for e in sock.events)
                if frames >= min_frames:
                    return ids[0]
            await asyncio.sleep(0.005)
        return None

    async def wait_end(self, index: int, reply_id: int, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        sock = self.sockets[index]
        while time.monotonic() < deadline:
            for e in sock.events:
                if e[1] == "status" and e[2] == reply_id and e[3].split(":")[1] in ENDED:
                    return str(e[3].split(":")[1])
            await asyncio.sleep(0.005)
        return None

    async def poll(
        self, *, host: str, port: int, cookies: Sequence[str], path: str, message_id: int,
        pollers: int, interval: float, timeout: float,
    ) -> list[list[tuple[float, int, str]]]:  # fmt: skip
        """``pollers`` clients GET ``path`` every ``interval`` s until the reply has ended.

        Each poller records (response time, data-seq of the reply's body, status)."""
        body_re = re.compile(_PAGE_BODY.format(id=message_id))
        status_re = re.compile(_PAGE_STATUS.format(id=message_id))
        deadline = time.monotonic() + timeout

        async def poller(i: int) -> list[tuple[float, int, str]]:
            seen: list[tuple[float, int, str]] = []
            await asyncio.sleep(interval * i / pollers)  # spread the pollers over the interval
            next_at = time.monotonic()
            while time.monotonic() < deadline:
                page = await _http_get(host, port, path, cookies[i % len(cookies)])
                now = time.monotonic()
                seq, status = body_re.search(page), status_re.search(page)
                seen.append((now, int(seq[1]) if seq else -1, status[1] if status else "?"))
                if status and status[1] in ENDED:
                    break
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            return seen

        return list(await asyncio.gather(*(poller(i) for i in range(pollers))))

    async def close_all(self) -> int:
        sockets, self.sockets = self.sockets, []
        await asyncio.gather(*(s.ws.close() for s in sockets), return_exceptions=True)
        for s in sockets:
            if s.task:
                s.task.cancel()
        return len(sockets)


def _frame(body: str) -> str:
    import json

    return json.dumps({"body": body})


async def _http_get(host: str, port: int, path: str, cookie: str) -> str:
    reader, writer = await asyncio.open_connection(host, port)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(request.encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data.decode("utf-8", errors="replace")


def _child_main(conn: Connection) -> None:
    raise_open_files_limit()
    asyncio.run(_serve(conn))


async def _serve(conn: Connection) -> None:
    child = _Child()
    loop = asyncio.get_running_loop()
    while True:
        command, kwargs = await loop.run_in_executor(None, conn.recv)
        if command == "exit":
            await child.close_all()
            conn.send(("ok", None))
            return
        try:
            result = getattr(child, command)(**kwargs)
            if asyncio.iscoroutine(result):
                result = await result
            conn.send(("ok", result))
        except Exception:
            conn.send(("error", traceback.format_exc()))


class ClientPool:
    """``processes`` child processes of clients; sockets are numbered per child."""

    def __init__(self, processes: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        for _ in range(processes):
            parent, child = context.Pipe()
            proc = context.Process(target=_child_main, args=(child,), daemon=True)
            proc.start()
            self._conns.append(parent)
            self._procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def __len__(self) -> int:
        return len(self._conns)

    def call(self, child: int, command: str, **kwargs: Any) -> Any:
        self._conns[child].send((command, kwargs))
        return self._answer(child)

    def call_all(self, command: str, per_child: Sequence[dict[str, Any]] | None = None) -> list:
        """Run a command in every child at once; ``per_child`` gives each child's arguments."""
        args = per_child or [{} for _ in self._conns]
        for conn, kwargs in zip(self._conns, args, strict=True):
            conn.send((command, kwargs))
        return [self._answer(i) for i in range(len(self._conns))]

    def _answer(self, child: int) -> Any:
        status, result = self._conns[child].recv()
        if status != "ok":
            raise RuntimeError(f"client process {child} failed:\n{result}")
        return result

    def connect(
        self, urls: Sequence[str], cookies: Sequence[str], count: int, parallel: int = 32,
    ) -> dict[str, Any]:  # fmt: skip
        """Open ``count`` more sockets, spread over the children; sums of the children's answers."""
        shares = split(count, len(self))
        starts = [sum(shares[:i]) for i in range(len(shares))]  # distinct people per child
        answers = self.call_all(
            "connect",
            [
                {"urls": urls, "cookies": [*cookies[s:], *cookies[:s]],
                 "count": n, "parallel": parallel}
                for n, s in zip(shares, starts, strict=True)
            ],
        )  # fmt: skip
        return {
            "open": sum(a["open"] for a in answers),
            "failed": sum(a["failed"] for a in answers),
            "errors": [e for a in answers for e in a["errors"]][:3],
            "handshake_s": [h for a in answers for h in a["handshake_s"]],
        }

    def events(self, kinds: Sequence[str] = ()) -> list[list[Event]]:
        """Every socket's events, all children together."""
        return [
            s for answer in self.call_all("collect", [{"kinds": kinds}] * len(self)) for s in answer
        ]

    def close_all(self) -> None:
        self.call_all("close_all")

    def shutdown(self) -> None:
        for i, conn in enumerate(self._conns):
            try:
                conn.send(("exit", {}))
                self._answer(i)
            except (OSError, EOFError, RuntimeError):
                pass
        for proc in self._procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _origin(ws_url: str) -> str:
    """The origin of the page that would open ``ws_url``: the same host, port and security."""
    parts = urlsplit(ws_url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"
