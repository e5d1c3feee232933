"""The API under daphne, as scripts meet it: SSE through a real server and a real disconnect."""

import http.client
import json

import pytest
from django.core.cache import cache

from api.services import api_token_create
from chat.models import Message
from jobs.services import job_stop_requested
from realtime.topics import thread_topic
from tests.factories import AssistantFactory, answer_streaming, frame_send
from tests.redis_control import topic_followed_wait

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


class SseConnection:
    """One HTTP connection reading Server-Sent Events line by line."""

    def __init__(self, stack, method: str, path: str, token: str, body: dict | None = None):
        self.conn = http.client.HTTPConnection(stack.host, stack.port, timeout=15)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.conn.request(method, path, body=json.dumps(body) if body else None, headers=headers)
        self.response = self.conn.getresponse()

    def next(self) -> tuple[str, dict]:
        fields: dict[str, str] = {}
        while True:
            line = self.response.fp.readline().decode()
            assert line, "the stream ended"
            line = line.rstrip("\n")
            if not line:
                if "event" in fields:
                    return fields["event"], json.loads(fields["data"])
                continue
            if not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value

    def close(self) -> None:
        self.conn.close()


def _streaming(reply_id: int) -> Message:
    return answer_streaming(reply_id)


@pytest.mark.parametrize("stop_on_disconnect", [False, True])
def test_under_daphne_an_answer_streams_and_a_disconnect_stops_it_only_when_asked(
    web_stack, team, stop_on_disconnect
):
    cache.clear()
    _, token = api_token_create(user=team.member, name="live")
    # An assistant on a model no worker serves: its answer waits on that model's own queue, so
    # a model worker left running by other live tests never takes it (nor clears its stop).
    AssistantFactory.create(workspace=team.workspace, handle="idle")
    stream = SseConnection(
        web_stack,
        "POST",
        f"/api/threads/{team.thread.pk}/ask",
        token,
        {"body": "@idle hello", "stop_on_disconnect": stop_on_disconnect},
    )
    assert stream.response.status == 200
    assert stream.response.getheader("Content-Type", "").startswith("text/event-stream")
    kind, question = stream.next()
    assert kind == "question"
    reply = _streaming(question["replies"][0]["id"])
    frame_send(reply, text="Hel", seq=1, delta="Hel")
    assert stream.next() == ("chunk", {"message_id": reply.pk, "seq": 1, "text": "Hel"})
    frame_send(reply, text="Hello", seq=2, delta="lo")
    assert stream.next()[1]["text"] == "lo"

    stream.close()
    # The server's clean-up ends by leaving the thread's topic, after stopping the answer if
    # it was asked to: once the topic has no follower, no stop is still to come.
    assert topic_followed_wait(thread_topic(team.thread.pk), followed=False)
    expected = f"stopped by {team.member.username}" if stop_on_disconnect else None
    assert job_stop_requested(reply.job_id) == expected


def test_with_the_real_model_an_asked_answer_streams_whole_and_ends_with_its_figures(
    live_stack, team
):
    cache.clear()
    _, token = api_token_create(user=team.member, name="live")
    stream = SseConnection(
        live_stack,
        "POST",
        f"/api/threads/{team.thread.pk}/ask",
        token,
        {"body": "@assistant name three colours, briefly."},
    )
    assert stream.response.status == 200
    text, kinds = "", []
    while True:
        kind, data = stream.next()
        kinds.append(kind)
        if kind == "chunk":
            text += data["text"]
        if kind in ("done", "error"):
            break
    stream.close()
    assert kinds[0] == "question"
    assert kinds[-2:] == ["sources", "done"]
    message = data["message"]
    assert text == message["body"]
    assert text.strip()
    assert message["statistics"]["completion_tokens"] > 0
    assert Message.objects.get(pk=message["id"]).body == text
