"""The API over HTTP with the standard library: JSON calls, and answers as Server-Sent Events."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.client import HTTPResponse, IncompleteRead
from typing import Any

JSON = dict[str, Any]

# A dropped stream is resumed this many times in a row before giving up.
RESUME_ATTEMPTS = 3


class RoundtableError(Exception):
    """The API refused a request: its status, its reason (``code``) and what to do."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class AnswerFailed(Exception):
    """The answer ended without finishing (failed, interrupted); ``message`` is the answer."""

    def __init__(self, reason: str, message: JSON) -> None:
        super().__init__(reason)
        self.message = message


class Client:
    """``Client(base_url, token)``: every call acts as the token's person."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout  # longer than the server's keepalive (15 s)

    # --- Calls ---------------------------------------------------------------------------

    def workspaces(self) -> list[JSON]:
        return self._json("GET", "/api/workspaces")

    def threads(self, workspace_id: int) -> list[JSON]:
        return self._json("GET", f"/api/workspaces/{workspace_id}/threads")

    def post(self, thread_id: int, body: str) -> JSON:
        """Post a message; ``replies`` are the answers its mentions asked for."""
        return self._json("POST", f"/api/threads/{thread_id}/messages", {"body": body})

    def status(self, message_id: int) -> JSON:
        """A message as it stands; an answer being written has its text so far."""
        return self._json("GET", f"/api/messages/{message_id}")

    def stop(self, message_id: int) -> JSON:
        """Stop an answer (it keeps its text); RoundtableError 409 if it had ended."""
        return self._json("POST", f"/api/messages/{message_id}/stop")

    def ask(self, thread_id: int, body: str, *, stop_on_disconnect: bool = False) -> Answer:
        """Post a question and stream its answer: iterate the result for the text."""
        payload = {"body": body, "stop_on_disconnect": stop_on_disconnect}
        response = self._open("POST", f"/api/threads/{thread_id}/ask", payload)
        return Answer(self, response)

    def stream(self, message_id: int, *, last_event_id: str | None = None) -> Answer:
        """Stream an answer, from the start or after ``last_event_id``."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        response = self._open("GET", f"/api/messages/{message_id}/stream", headers=headers)
        return Answer(self, response, message_id=message_id, last_event_id=last_event_id)

    # --- HTTP ----------------------------------------------------------------------------

    def _json(self, method: str, path: str, payload: JSON | None = None) -> Any:
        with self._open(method, path, payload) as response:
            return json.loads(response.read())

    def _open(
        self,
        method: str,
        path: str,
        payload: JSON | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> HTTPResponse:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(  # noqa: S310 - the base URL is the user's server
            self.base_url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream",
                **(headers or {}),
            },
        )
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)  # noqa: S310
        except urllib.error.HTTPError as exc:
            raise _error_of(exc) from None


def _error_of(exc: urllib.error.HTTPError) -> RoundtableError:
    try:
        error = json.loads(exc.read())["error"]
        return RoundtableError(exc.code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        return RoundtableError(exc.code, "http_error", exc.reason or "HTTP error")


class Answer:
    """An answer being streamed: iterating gives its text, chunk by chunk.

    Afterwards ``message`` is the answer as it ended (status, statistics, stop reason) and
    ``sources`` the passages it was given. ``question`` is set for ``Client.ask``. A dropped
    connection is resumed after the last chunk received.
    """

    def __init__(
        self,
        client: Client,
        response: HTTPResponse,
        *,
        message_id: int | None = None,
        last_event_id: str | None = None,
    ) -> None:
        self._client, self._response = client, response
        self.message_id = message_id
        self.last_event_id = last_event_id
        self.question: JSON | None = None
        self.message: JSON | None = None
        self.sources: list[JSON] = []

    def __iter__(self) -> Iterator[str]:
        attempts = 0
        while True:
            try:
                for event, event_id, data in _events(self._response):
                    attempts = 0
                    if event_id is not None:
                        self.last_event_id = event_id
                    text = self._on(event, data)
                    if text:
                        yield text
                    if self.message is not None:
                        return
            except (OSError, IncompleteRead):
                pass
            finally:
                self._response.close()
            attempts += 1
            if self.message_id is None or attempts > RESUME_ATTEMPTS:
                raise ConnectionError("The answer's stream ended before the answer did.")
            self._response = self._client.stream(
                self.message_id, last_event_id=self.last_event_id
            )._response

    def _on(self, event: str, data: JSON) -> str:
        if event == "question":
            self.question = data
            self.message_id = data["replies"][0]["id"]
        elif event == "chunk":
            return str(data["text"])
        elif event == "sources":
            self.sources = list(data["sources"])
        elif event == "done":
            self.message = data["message"]
        elif event == "error":
            self.message = data["message"]
            raise AnswerFailed(str(data["error"]["message"]), data["message"])
        return ""

    def text(self) -> str:
        """Read the whole answer."""
        return "".join(self)


def _events(response: HTTPResponse) -> Iterator[tuple[str, str | None, JSON]]:
    """Server-Sent Events as (event, id, data); comment lines (keepalives) are skipped."""
    fields: dict[str, str] = {}
    for raw in response:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if "data" in fields:
                yield fields.get("event", "message"), fields.get("id"), json.loads(fields["data"])
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
