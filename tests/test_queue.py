"""Waiting for the assistant: everyone sees a queued reply's place, and how many one may ask."""

import pytest
from django.core.exceptions import ValidationError

from chat import replies, services
from chat.models import Message
from chat.selectors import message_page

from .factories import ThreadFactory, assistant_reply

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def test_a_queued_reply_shows_how_many_replies_in_any_thread_are_ahead_of_it(team):
    elsewhere = ThreadFactory.create(workspace=team.workspace)
    assistant_reply(thread=elsewhere, asker=team.member, status=Message.Status.STREAMING)
    assistant_reply(thread=elsewhere, asker=team.member, status=Message.Status.DONE)
    assistant_reply(thread=team.thread, asker=team.member, status=Message.Status.QUEUED)
    last = assistant_reply(thread=team.thread, asker=team.owner, status=Message.Status.QUEUED)

    shown = {m.id: m for m in message_page(thread=team.thread).messages}

    assert shown[last.pk].queue_ahead == 2
    queued = [m for m in shown.values() if m.status == "queued"]
    assert sorted(m.queue_ahead or 0 for m in queued) == [1, 2]


def test_when_a_reply_ends_the_queue_moves_for_everyone(
    team, broadcasts, django_capture_on_commit_callbacks
):
    first = assistant_reply(thread=team.thread, asker=team.member, status=Message.Status.QUEUED)
    second = assistant_reply(thread=team.thread, asker=team.owner, status=Message.Status.QUEUED)

    with django_capture_on_commit_callbacks(execute=True):
        replies.reply_stop(reply=first, by=team.member)

    assert [m["id"] for m in broadcasts.changed] == [first.pk, second.pk]
    assert broadcasts.changed[1]["queue_ahead"] == 0


def test_the_queue_position_is_shown_on_the_page(client, team):
    assistant_reply(thread=team.thread, asker=team.member, status=Message.Status.STREAMING)
    assistant_reply(thread=team.thread, asker=team.owner, status=Message.Status.QUEUED)
    client.force_login(team.member)
    page = client.get(f"/t/{team.thread.pk}/").text
    assert "queued · 1 ahead" in page


def test_one_person_may_have_only_a_few_questions_waiting(team, settings):
    settings.MODEL_JOBS_MAX_PER_PERSON = 2
    assistant_reply(thread=team.thread, asker=team.member, status=Message.Status.QUEUED)
    assistant_reply(thread=team.thread, asker=team.member, status=Message.Status.STREAMING)
    before = Message.objects.count()

    with pytest.raises(ValidationError, match="already have 2 requests waiting"):
        services.message_create(thread=team.thread, author=team.member, body="@assistant more?")

    assert Message.objects.count() == before, "the refused message is not saved"
    services.message_create(thread=team.thread, author=team.member, body="no mention, fine")
    services.message_create(thread=team.thread, author=team.owner, body="@assistant mine?")
