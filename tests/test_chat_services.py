"""Posting messages: validation, and queuing the assistant when it is mentioned."""

import pytest
from django.core.exceptions import ValidationError

from chat import services
from chat.models import Message

pytestmark = pytest.mark.django_db


def test_a_message_is_saved_stripped_and_broadcast_without_asking_the_assistant(
    team, broadcasts, sent_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = services.message_create(thread=team.thread, author=team.member, body="  hi  ")

    message.refresh_from_db()
    assert message.body == "hi"
    assert message.role == Message.Role.USER
    assert [m["id"] for m in broadcasts.created] == [message.pk]
    assert sent_tasks == []
    assert Message.objects.count() == 1, "no reply is queued"


@pytest.mark.parametrize("body", ["", "   \n  "])
def test_an_empty_message_is_refused(team, body):
    with pytest.raises(ValidationError, match="Write something"):
        services.message_create(thread=team.thread, author=team.member, body=body)
    assert not Message.objects.exists()


def test_an_oversize_message_is_refused_with_the_limit(team, settings):
    settings.MESSAGE_MAX_LENGTH = 10
    with pytest.raises(ValidationError, match="limit is 10"):
        services.message_create(thread=team.thread, author=team.member, body="x" * 11)
    assert not Message.objects.exists()


def test_mentioning_the_assistant_queues_a_reply_and_enqueues_it_after_commit(
    team, broadcasts, sent_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        question = services.message_create(
            thread=team.thread, author=team.owner, body="@assistant name it"
        )
        assert sent_tasks == [], "nothing is enqueued before the transaction commits"
    reply = Message.objects.get(role=Message.Role.ASSISTANT)
    assert reply.status == Message.Status.QUEUED
    assert reply.in_reply_to == question
    with django_capture_on_commit_callbacks(execute=True):  # as the commit runs them
        for callback in callbacks:
            callback()
    assert sent_tasks == [(services.GENERATE_REPLY_TASK, [reply.pk])]
    assert [m["id"] for m in broadcasts.created] == [question.pk, reply.pk]
