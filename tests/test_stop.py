"""Members stop the assistant: before it starts, while it streams, and not after it ended."""

import pytest
from django.urls import reverse

from chat.models import Generation, Message
from chat.replies import reply_stop
from llm import generation
from llm.generation import reply_generate

from .factories import LONG_ANSWER_PROMPT, MessageFactory, assistant_reply

pytestmark = pytest.mark.django_db


def test_a_queued_reply_that_is_stopped_is_never_generated(team):
    reply = assistant_reply(thread=team.thread, asker=team.owner, question=LONG_ANSWER_PROMPT)

    assert reply_stop(reply=reply, by=team.member)
    reply_generate(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == Message.Status.STOPPED
    assert reply.stop_reason == "stopped by bob"
    assert reply.body == ""


@pytest.mark.model
def test_a_streaming_reply_stops_between_tokens_and_keeps_its_text(team, settings, monkeypatch):
    settings.LLM_TEMPERATURE = 0
    settings.LLM_MAX_TOKENS = 300
    reply = assistant_reply(thread=team.thread, asker=team.owner, question=LONG_ANSWER_PROMPT)
    frames_seen = []
    real_record = generation.reply_progress_record

    def frame_then_stop(**frame):
        recorded = real_record(**frame)
        frames_seen.append(frame["seq"])
        if frame["seq"] == 2:
            assert reply_stop(reply=Message.objects.get(pk=reply.pk), by=team.member)
        return recorded

    monkeypatch.setattr(generation, "reply_progress_record", frame_then_stop)

    reply_generate(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == Message.Status.STOPPED
    assert reply.stop_reason == "stopped by bob"
    assert reply.body, "the partial answer is kept"
    assert (reply.generation.completion_tokens or 0) < 300, "it stopped before its token limit"
    assert reply.last_seq == frames_seen[-1]
    assert len(frames_seen) <= 6, "it stopped within a few frames of the request"


def test_a_reply_that_has_ended_cannot_be_stopped(team):
    reply = assistant_reply(thread=team.thread, asker=team.owner, question=LONG_ANSWER_PROMPT)
    Message.objects.filter(pk=reply.pk).update(status=Message.Status.DONE, body="Nova.")

    assert not reply_stop(reply=reply, by=team.member)

    reply.refresh_from_db()
    assert reply.status == Message.Status.DONE


def test_members_stop_over_http_and_outsiders_get_404(client, team):
    reply = assistant_reply(thread=team.thread, asker=team.owner, question=LONG_ANSWER_PROMPT)
    url = reverse("message-stop", args=[reply.pk])

    client.force_login(team.outsider)
    assert client.post(url).status_code == 404
    reply.refresh_from_db()
    assert reply.status == Message.Status.QUEUED

    client.force_login(team.member)
    response = client.post(url)
    assert response.status_code == 202
    assert response.json()["status"] == "stopped"
    assert client.post(url).status_code == 409


def test_a_persons_message_is_not_something_to_stop(client, team):
    message = MessageFactory.create(thread=team.thread, author=team.owner)
    client.force_login(team.member)
    response = client.post(reverse("message-stop", args=[message.pk]))
    assert response.status_code == 400


def test_members_poll_a_replys_status_and_outsiders_get_404(client, team):
    reply = assistant_reply(thread=team.thread, asker=team.owner, question=LONG_ANSWER_PROMPT)
    Message.objects.filter(pk=reply.pk).update(status=Message.Status.STREAMING, body="So far")
    Generation.objects.create(message=reply, model_name="m")
    url = reverse("message-status", args=[reply.pk])

    client.force_login(team.outsider)
    assert client.get(url).status_code == 404

    client.force_login(team.member)
    data = client.get(url).json()
    assert data["status"] == "streaming"
    assert data["text"] == "So far"
    assert data["model"] == "m"
    assert data["author"] == "assistant"
    assert client.get(reverse("message-status", args=[999_999])).status_code == 404
