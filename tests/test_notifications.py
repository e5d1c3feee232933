"""Who is notified of what: mentions, answers and document writes that end, per person's
settings and only within their workspaces; the inbox pages; and the bell's live count."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import reverse
from django.utils import timezone

from chat.models import Message
from chat.replies import reply_fail, reply_finish, reply_stop
from chat.services import message_create, message_edit
from config.asgi import application
from documents.services import document_create
from documents.writes import write_finish, write_request, write_start
from harness.ws_client import session_cookie
from jobs.models import ModelJob
from jobs.services import jobs_sweep
from notifications.events import NotificationAdded, UnreadChanged
from notifications.models import Notification
from notifications.selectors import notification_settings_get
from notifications.services import notification_settings_set
from realtime.topics import inbox_topic
from workspace.services import membership_remove

from .factories import MembershipFactory, UserFactory, answer_streaming, assistant_reply
from .published import Published

pytestmark = [pytest.mark.services, pytest.mark.django_db]

FIGURES = {
    "prompt_tokens": 10,
    "completion_tokens": 5,
    "time_to_first_token_ms": 40.0,
    "tokens_per_second": 20.0,
}


def inbox_events(published: Published) -> list[tuple[str, dict[str, object]]]:
    """The inbox events published, as (topic, the event without its topic)."""
    return [
        (event["topic"], {key: value for key, value in event.items() if key != "topic"})
        for event in published.of(NotificationAdded, UnreadChanged)
    ]


def inbox_of(person) -> list[str]:
    return list(Notification.objects.filter(recipient=person).values_list("text", flat=True))


# --- Mentions ---------------------------------------------------------------------------


def test_a_mentioned_member_is_notified_with_a_link_to_the_message(team, after_commit, published):
    message = after_commit(
        message_create, thread=team.thread, author=team.owner, body="@bob can you check this?"
    )

    (notification,) = Notification.objects.filter(recipient=team.member)
    assert notification.kind == Notification.Kind.MENTION
    assert (
        notification.text == "alice mentioned you in Release planning: “@bob can you check this?”"
    )
    assert notification.target_url == f"/t/{team.thread.pk}/#message-{message.pk}"
    assert notification.workspace == team.workspace
    assert notification.read_at is None
    assert [
        (topic, event["type"], event["unread"]) for topic, event in inbox_events(published)
    ] == [(inbox_topic(team.member.pk), "inbox.notification", 1)]


def test_the_author_and_people_outside_the_workspace_are_never_notified(
    team, after_commit, published
):
    after_commit(message_create, thread=team.thread, author=team.owner, body="@alice @mallory look")

    assert Notification.objects.count() == 0
    assert inbox_events(published) == []


def test_people_who_chose_mentions_only_are_notified_of_mentions(team, after_commit):
    notification_settings_set(person=team.member, level="mentions")

    after_commit(message_create, thread=team.thread, author=team.owner, body="@bob look")

    assert len(inbox_of(team.member)) == 1


def test_people_who_chose_nothing_are_not_notified(team, after_commit, published):
    notification_settings_set(person=team.member, level="none")

    after_commit(message_create, thread=team.thread, author=team.owner, body="@bob look")

    assert inbox_of(team.member) == []
    assert inbox_events(published) == []


def test_an_edit_that_newly_mentions_a_member_notifies_them_once(team, after_commit):
    message = after_commit(message_create, thread=team.thread, author=team.owner, body="Hello")

    after_commit(message_edit, message=message, by=team.owner, body="Hello @bob, look")
    after_commit(message_edit, message=message, by=team.owner, body="Hello @bob, look again")

    assert inbox_of(team.member) == ["alice mentioned you in Release planning: “Hello @bob, look”"]


def test_an_edit_notifies_only_members_it_newly_mentions_never_its_author(team, after_commit):
    carol = MembershipFactory.create(
        user=UserFactory.create(username="carol"), workspace=team.workspace
    ).user
    message = after_commit(message_create, thread=team.thread, author=team.owner, body="@bob hi")

    after_commit(
        message_edit, message=message, by=team.owner, body="@bob @carol @alice @mallory hi"
    )

    assert len(inbox_of(team.member)) == 1  # from the message as posted
    assert inbox_of(carol) == [
        "alice mentioned you in Release planning: “@bob @carol @alice @mallory hi”"
    ]
    assert inbox_of(team.owner) == inbox_of(team.outsider) == []


# --- Answers ----------------------------------------------------------------------------


def streaming_answer(team, asker) -> Message:
    return answer_streaming(assistant_reply(thread=team.thread, asker=asker).pk)


def test_the_asker_is_told_when_their_answer_is_done(team, after_commit):
    reply = streaming_answer(team, team.member)

    after_commit(
        reply_finish, reply=reply, text="Nova.", seq=1, finish_reason="stop", figures=FIGURES
    )

    (notification,) = Notification.objects.filter(recipient=team.member)
    assert notification.kind == Notification.Kind.ANSWER
    assert notification.text == "assistant answered you in Release planning"
    assert notification.target_url == f"/t/{team.thread.pk}/#message-{reply.pk}"
    assert inbox_of(team.owner) == []


def test_the_asker_is_told_when_someone_else_stopped_their_answer(team, after_commit):
    reply = streaming_answer(team, team.member)

    after_commit(reply_stop, reply=reply, by=team.owner)
    after_commit(reply_finish, reply=reply, text="No", seq=1, finish_reason="stop", figures=FIGURES)

    assert inbox_of(team.member) == [
        "assistant’s answer to you in Release planning was stopped by alice"
    ]


def test_someone_else_stopping_a_queued_answer_tells_its_asker(team, after_commit):
    reply = assistant_reply(thread=team.thread, asker=team.member)

    after_commit(reply_stop, reply=reply, by=team.owner)

    assert len(inbox_of(team.member)) == 1


def test_nobody_is_told_of_an_answer_they_stopped_themselves(team, after_commit):
    reply = streaming_answer(team, team.member)

    after_commit(reply_stop, reply=reply, by=team.member)
    after_commit(reply_finish, reply=reply, text="No", seq=1, finish_reason="stop", figures=FIGURES)

    assert Notification.objects.count() == 0


def test_the_asker_is_told_when_their_answer_failed_or_was_interrupted(team, after_commit):
    failing = streaming_answer(team, team.member)
    silent = streaming_answer(team, team.member)

    after_commit(reply_fail, reply=failing, text="", seq=0, reason="the model crashed")
    ModelJob.objects.filter(answer=silent).update(
        heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    after_commit(jobs_sweep, silent_for=timedelta(seconds=30), waiting_for=timedelta(hours=1))

    assert sorted(inbox_of(team.member)) == [
        "assistant could not answer you in Release planning",
        "assistant’s answer to you in Release planning was interrupted",
    ]


def test_people_who_chose_mentions_only_hear_nothing_of_answers(team, after_commit):
    notification_settings_set(person=team.member, level="mentions")
    reply = streaming_answer(team, team.member)

    after_commit(
        reply_finish, reply=reply, text="Nova.", seq=1, finish_reason="stop", figures=FIGURES
    )

    assert inbox_of(team.member) == []


def test_an_asker_who_left_the_workspace_is_not_told(team, after_commit):
    reply = streaming_answer(team, team.member)
    membership_remove(workspace=team.workspace, user=team.member, by=team.member)

    after_commit(
        reply_finish, reply=reply, text="Nova.", seq=1, finish_reason="stop", figures=FIGURES
    )

    assert inbox_of(team.member) == []


# --- Document writes --------------------------------------------------------------------


def test_the_asker_is_told_when_the_assistant_finished_writing_in_a_document(team, after_commit):
    document = document_create(workspace=team.workspace, title="Launch plan", created_by=team.owner)
    write = write_request(document=document, by=team.member, instruction="Add a summary")
    write_start(write=write)

    after_commit(write_finish, write=write, written="Summary.", seq=1, figures={})

    (notification,) = Notification.objects.filter(recipient=team.member)
    assert notification.kind == Notification.Kind.DOCUMENT_WRITE
    assert notification.text == "assistant finished writing in Launch plan"
    assert notification.target_url == f"/d/{document.pk}/"


# --- Leaving a workspace ----------------------------------------------------------------


def test_leaving_a_workspace_ends_its_notifications_and_the_bell_follows(
    team, after_commit, published
):
    after_commit(message_create, thread=team.thread, author=team.owner, body="@bob look")
    other = MembershipFactory.create(user=team.member).workspace
    Notification.objects.create(
        recipient=team.member, kind="mention", workspace=other, target_url="/", text="elsewhere"
    )

    after_commit(membership_remove, workspace=team.workspace, user=team.member, by=team.member)

    assert inbox_of(team.member) == ["elsewhere"]
    assert inbox_events(published)[-1] == (
        inbox_topic(team.member.pk),
        {"type": "inbox.unread", "unread": 1},
    )


# --- The inbox pages --------------------------------------------------------------------


def notification_for(person, workspace, text="alice mentioned you") -> Notification:
    return Notification.objects.create(
        recipient=person, kind="mention", workspace=workspace, target_url="/t/1/", text=text
    )


def test_the_bell_on_every_page_counts_what_is_unread(client, team):
    notification_for(team.member, team.workspace)
    notification_for(team.member, team.workspace)
    Notification.objects.create(
        recipient=team.member,
        kind="mention",
        workspace=team.workspace,
        target_url="/",
        text="seen",
        read_at=timezone.now(),
    )
    client.force_login(team.member)

    page = client.get(reverse("workspace-list")).content.decode()

    assert 'id="inbox-bell"' in page
    assert 'data-count="2"' in page


def test_the_inbox_lists_only_my_own_notifications(client, team):
    notification_for(team.member, team.workspace, text="for bob")
    notification_for(team.owner, team.workspace, text="for alice")
    client.force_login(team.member)

    page = client.get(reverse("inbox")).content.decode()

    assert "for bob" in page
    assert "for alice" not in page


def test_opening_a_notification_marks_it_read_and_goes_to_where_it_happened(
    client, team, published
):
    notification = notification_for(team.member, team.workspace)
    client.force_login(team.member)

    response = client.post(reverse("notification-open", args=[notification.pk]))

    assert response.status_code == 302
    assert response["Location"] == "/t/1/"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_someone_elses_notification_is_404_to_read_or_open(client, team):
    notification = notification_for(team.member, team.workspace)
    client.force_login(team.owner)

    assert client.post(reverse("notification-open", args=[notification.pk])).status_code == 404
    assert client.post(reverse("notification-read", args=[notification.pk])).status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


def test_marking_one_or_all_read_updates_the_bell_on_my_other_pages(
    client, team, published, django_capture_on_commit_callbacks
):
    first, _ = (
        notification_for(team.member, team.workspace),
        notification_for(team.member, team.workspace),
    )
    client.force_login(team.member)

    with django_capture_on_commit_callbacks(execute=True):
        item = client.post(reverse("notification-read", args=[first.pk]), HTTP_HX_REQUEST="true")
    assert item.status_code == 200
    assert "Mark read" not in item.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("inbox-read-all"))

    assert Notification.objects.filter(read_at__isnull=True).count() == 0
    assert [event["unread"] for _, event in inbox_events(published)] == [1, 0]


def test_a_person_chooses_what_to_be_notified_of(client, team):
    client.force_login(team.member)

    assert client.post(reverse("inbox-settings"), {"level": "mentions"}).status_code == 302
    assert (
        'value="mentions" checked'
        in client.get(reverse("inbox"))
        .content.decode()
        .replace('" id="id_level_1" checked', '" checked')
        or "checked" in client.get(reverse("inbox")).content.decode()
    )
    assert client.post(reverse("inbox-settings"), {"level": "loud"}).status_code == 400
    assert team.member.notification_settings.level == "mentions"


def test_the_inbox_is_for_logged_in_people(client):
    assert client.get(reverse("inbox"))["Location"].startswith("/login/")


# --- The bell's socket --------------------------------------------------------------------


@pytest.fixture
def cookies(team) -> dict[str, str]:
    return {"alice": session_cookie(team.owner), "bob": session_cookie(team.member)}


def inbox_socket(cookie: str | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/inbox/", headers=headers)


@pytest.mark.django_db(transaction=True)
async def test_a_mention_reaches_the_mentioned_persons_bell_live(team, cookies, sent_tasks):
    bob, alice = inbox_socket(cookies["bob"]), inbox_socket(cookies["alice"])
    for socket in (bob, alice):
        assert (await socket.connect())[0]
        assert 'data-count="0"' in await socket.receive_from(timeout=5)

    await database_sync_to_async(message_create)(
        thread=team.thread, author=team.owner, body="@bob <b>look</b>"
    )

    html = await bob.receive_from(timeout=5)
    assert 'id="inbox-unread" class="inbox-unread" hx-swap-oob="true" data-count="1"' in html
    assert 'id="inbox-alert" hx-swap-oob="true"' in html
    assert "alice mentioned you in Release planning: “@bob &lt;b&gt;look&lt;/b&gt;”" in html
    assert await alice.receive_nothing(timeout=0.5)
    await bob.disconnect()
    await alice.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_the_inbox_socket_is_for_logged_in_people(team):
    anonymous = inbox_socket(None)
    assert (await anonymous.connect())[0]
    assert (await anonymous.receive_output(timeout=5))["code"] == 4401
    await anonymous.disconnect()


def test_everything_is_notified_until_a_person_chooses_otherwise():
    person = UserFactory.create()

    assert notification_settings_get(person=person).level == "all"
