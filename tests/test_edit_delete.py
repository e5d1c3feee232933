"""Authors edit and delete their own messages; everyone sees it; nobody else may."""

import pytest
from django.urls import reverse

from chat.answering import reply_history
from chat.models import Message

from .factories import AssistantMessageFactory, MessageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def message(team) -> Message:
    return MessageFactory.create(thread=team.thread, author=team.member, body="Ship on Friday")


def test_the_author_edits_and_everyone_is_sent_the_new_text(
    client, team, message, broadcasts, django_capture_on_commit_callbacks
):
    client.force_login(team.member)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("message-edit", args=[message.pk]), headers={"HX-Prompt": "Ship on Monday"}
        )
    assert response.status_code == 200
    message.refresh_from_db()
    assert message.body == "Ship on Monday"
    assert message.edited_at is not None
    assert [(m["id"], m["body"]) for m in broadcasts.changed] == [(message.pk, "Ship on Monday")]
    page = client.get(reverse("thread-detail", args=[team.thread.pk])).text
    assert "Ship on Monday" in page
    assert "edited" in page


def test_an_edit_is_validated_like_a_new_message(client, team, message, settings):
    settings.MESSAGE_MAX_LENGTH = 5
    client.force_login(team.member)
    response = client.post(reverse("message-edit", args=[message.pk]), {"body": "far too long"})
    assert response.status_code == 400
    assert "limit is 5" in response.json()["error"]
    message.refresh_from_db()
    assert message.body == "Ship on Friday"


def test_deleting_leaves_a_tombstone_for_everyone_and_the_model_no_longer_reads_it(
    client, team, message, broadcasts, django_capture_on_commit_callbacks
):
    client.force_login(team.member)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("message-delete", args=[message.pk]))
    assert response.status_code == 200
    assert response.json()["deleted_at"] is not None
    message.refresh_from_db()
    assert message.body == ""
    [told] = broadcasts.changed
    assert (told["id"], told["body"], told["deleted_at"] is not None) == (message.pk, "", True)
    page = client.get(reverse("thread-detail", args=[team.thread.pk])).text
    assert "This message was deleted." in page
    assert "Ship on Friday" not in page
    later = AssistantMessageFactory.create(thread=team.thread)
    assert all(message.body != "Ship on Friday" for message in reply_history(later))
    assert client.post(reverse("message-delete", args=[message.pk])).status_code == 409


def test_other_members_cannot_edit_or_delete_and_outsiders_get_404(client, team, message):
    client.force_login(team.owner)
    assert client.post(reverse("message-edit", args=[message.pk]), {"body": "x"}).status_code == 403
    assert client.post(reverse("message-delete", args=[message.pk])).status_code == 403
    client.force_login(team.outsider)
    assert client.post(reverse("message-edit", args=[message.pk]), {"body": "x"}).status_code == 404
    assert client.post(reverse("message-delete", args=[message.pk])).status_code == 404
    message.refresh_from_db()
    assert message.body == "Ship on Friday"
    assert message.deleted_at is None


def test_the_assistants_answers_cannot_be_edited(client, team):
    reply = AssistantMessageFactory.create(
        thread=team.thread, status=Message.Status.DONE, body="Nova"
    )
    client.force_login(team.member)
    assert client.post(reverse("message-edit", args=[reply.pk]), {"body": "x"}).status_code == 403


def test_the_author_is_given_an_editor_holding_their_text_escaped(client, team):
    hostile = MessageFactory.create(
        thread=team.thread, author=team.member, body="Line one\n</textarea><script>x()</script>"
    )
    client.force_login(team.member)

    editor = client.get(reverse("message-edit", args=[hostile.pk])).text

    assert "<textarea" in editor
    assert "Line one\n&lt;/textarea&gt;&lt;script&gt;x()&lt;/script&gt;</textarea>" in editor
    assert "<script>" not in editor


def test_only_the_author_gets_the_editor(client, team, message):
    client.force_login(team.owner)
    assert client.get(reverse("message-edit", args=[message.pk])).status_code == 403
    client.force_login(team.outsider)
    assert client.get(reverse("message-edit", args=[message.pk])).status_code == 404
    reply = AssistantMessageFactory.create(thread=team.thread, status=Message.Status.DONE)
    client.force_login(team.member)
    assert client.get(reverse("message-edit", args=[reply.pk])).status_code == 403


def test_saving_from_the_page_answers_with_the_message_as_everyone_now_sees_it(
    client, team, message
):
    client.force_login(team.member)

    response = client.post(
        reverse("message-edit", args=[message.pk]),
        {"body": "Ship on Monday\nafter the review"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert response.text.startswith(f'<article id="message-{message.pk}"')
    assert "Ship on Monday" in response.text
    assert ">edited<" in response.text
