"""Members stop the assistant: before it starts and not after it ended (while it streams:
tests/test_model_jobs.py, on the engine without a model)."""

import pytest
from django.urls import reverse

from chat.models import Generation, Message
from chat.replies import reply_stop

from .factories import LONG_ANSWER_PROMPT, MessageFactory, assistant_reply
from .model_worker import reply_generate

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def test_a_queued_reply_that_is_stopped_is_never_generated(team):
    reply = assistant_reply(thread=team.thread, asker=team.owner, question=LONG_ANSWER_PROMPT)

    assert reply_stop(reply=reply, by=team.member)
    reply_generate(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == Message.Status.STOPPED
    assert reply.stop_reason == "stopped by bob"
    assert reply.body == ""


def test_a_reply_that_has_ended_cannot_be_stopped(team):
    reply = assistant_reply(
        thread=team.thread, asker=team.owner, status=Message.Status.DONE, body="Nova."
    )

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
    assert data["body"] == "So far"
    assert data["model"] == "m"
    assert data["author"] == "assistant"
    assert client.get(reverse("message-status", args=[999_999])).status_code == 404
