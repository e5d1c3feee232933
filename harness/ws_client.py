"""A client of the live stack: a user's session, their thread socket, and reading what it shows.

The tests talk to daphne through it; the benchmark makes its sessions with ``session_cookie``.
"""

import http.cookiejar
import json
import re
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html import unescape

import websockets
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client

from .live_stack import LiveStack

FRAME_PATTERN = re.compile(
    r'id="message-(?P<id>\d+)-body"[^>]*data-seq="(?P<seq>\d+)" data-delta="(?P<delta>[^"]*)"'
)


def session_key(user: object) -> str:
    """The key of a new session that logs ``user`` in (made in this process)."""
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def session_cookie(user: object) -> str:
    """A ``Cookie`` header value that logs ``user`` in (a session made in this process)."""
    return f"{settings.SESSION_COOKIE_NAME}={session_key(user)}"


@asynccontextmanager
async def thread_socket(
    stack: LiveStack, thread_id: int, user: object, *, cookie: str | None = None
) -> AsyncIterator[websockets.ClientConnection]:
    """A member's socket on the thread, connected to the live daphne with a real session
    (a new one, or the one ``cookie`` holds)."""
    cookie = cookie or await database_sync_to_async(session_cookie)(user)
    async with websockets.connect(
        f"{stack.ws_url}/ws/threads/{thread_id}/",
        additional_headers={"Cookie": cookie, "Origin": stack.http_url},
        max_size=None,
        max_queue=None,  # a test may read one socket while frames pile up on another
        close_timeout=1,
    ) as socket:
        yield socket


async def send_message(socket: websockets.ClientConnection, body: str) -> None:
    await socket.send(json.dumps({"body": body}))


@dataclass
class Frame:
    message_id: int
    seq: int
    delta: str


@dataclass
class Received:
    """Everything one client received, in order."""

    html: list[str] = field(default_factory=list)

    def frames(self, message_id: int) -> list[Frame]:
        found = []
        for html in self.html:
            match = FRAME_PATTERN.search(html)
            if match and int(match["id"]) == message_id:
                found.append(Frame(message_id, int(match["seq"]), unescape(match["delta"])))
        return found

    def saw_status(self, message_id: int, status: str) -> bool:
        marker = f'id="message-{message_id}" '
        return any(marker in html and f'data-status="{status}"' in html for html in self.html)


ARTICLE_PATTERN = re.compile(r'<article id="message-(\d+)" [^>]*data-status="(\w+)"')
BODY_PATTERN = re.compile(
    r'<div id="message-(\d+)-body"[^>]*data-seq="(\d+)"[^>]*>(.*?)</div>', re.S
)


@dataclass
class ShownMessage:
    status: str
    seq: int
    body: str


@dataclass
class ClientView:
    """What a page shows after applying the fragments it received, as htmx would."""

    messages: dict[int, ShownMessage] = field(default_factory=dict)

    def apply(self, html: str) -> None:
        replaced = html.startswith('<div id="transcript"')
        if replaced:
            self.messages = {}
        if (
            replaced
            or html.startswith("<article ")
            or 'hx-swap-oob="beforeend:#transcript"' in html
        ):
            for chunk in html.split("<article ")[1:]:  # added or changed: each shown once
                self._article("<article " + chunk)
        elif (body := BODY_PATTERN.search(html)) and int(body[1]) in self.messages:
            shown = self.messages[int(body[1])]
            if int(body[2]) >= shown.seq:  # the page's guard against stale frames
                shown.seq, shown.body = int(body[2]), body[3]

    def _article(self, html: str) -> None:
        article, body = ARTICLE_PATTERN.search(html), BODY_PATTERN.search(html)
        if article is not None and body is not None:
            self.messages[int(article[1])] = ShownMessage(article[2], int(body[2]), body[3])


def post_as(stack: LiveStack, user: object, path: str, *, cookie: str | None = None) -> int:
    """POST to a live web process as ``user`` (in a new session, or the one ``cookie`` holds),
    with the CSRF token a browser would send."""
    cookie = cookie or session_cookie(user)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("Cookie", cookie)]
    opener.open(f"{stack.http_url}/").read()  # sets the csrftoken cookie
    token = next(c.value or "" for c in jar if c.name == settings.CSRF_COOKIE_NAME)
    request = urllib.request.Request(
        f"{stack.http_url}{path}",
        method="POST",
        headers={
            "Cookie": f"{cookie}; {settings.CSRF_COOKIE_NAME}={token}",
            "X-CSRFToken": token,
            "Origin": stack.http_url,
        },
    )
    try:
        with urllib.request.urlopen(request) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
