"""Browser pages: log in, workspaces, threads, members. Non-members get 404 everywhere."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from chat.models import Generation, Message, Thread
from workspace.models import Membership, Workspace

from .factories import AssistantMessageFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_pages_ask_anonymous_visitors_to_log_in(client, team):
    for url in [
        reverse("workspace-list"),
        reverse("workspace-detail", args=[team.workspace.pk]),
        reverse("thread-detail", args=[team.thread.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_the_login_page_logs_a_user_in(client, team):
    from .factories import PASSWORD

    response = client.post(reverse("login"), {"username": "bob", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("workspace-list")).context["user"] == team.member


def test_i_see_only_my_workspaces(client, team):
    WorkspaceOfOthers = Workspace.objects.create(name="Secret project")
    client.force_login(team.member)
    response = client.get(reverse("workspace-list"))
    assert list(response.context["workspaces"]) == [team.workspace]
    assert WorkspaceOfOthers.name not in response.text


def test_creating_a_workspace_makes_me_its_owner(client, team):
    client.force_login(team.outsider)
    response = client.post(reverse("workspace-list"), {"name": "Launch crew"})
    workspace = Workspace.objects.get(name="Launch crew")
    assert response["Location"] == reverse("workspace-detail", args=[workspace.pk])
    assert Membership.objects.get(workspace=workspace).role == Membership.Role.OWNER


def test_non_members_get_404_for_every_workspace_url(client, team):
    client.force_login(team.outsider)
    assert client.get(reverse("workspace-detail", args=[team.workspace.pk])).status_code == 404
    assert client.get(reverse("thread-detail", args=[team.thread.pk])).status_code == 404
    response = client.post(
        reverse("member-add", args=[team.workspace.pk]), {"username_or_email": "mallory"}
    )
    assert response.status_code == 404
    response = client.post(reverse("workspace-detail", args=[team.workspace.pk]), {"title": "x"})
    assert response.status_code == 404
    assert not Thread.objects.filter(title="x").exists()


def test_unknown_threads_and_workspaces_are_404(client, team):
    client.force_login(team.owner)
    assert client.get(reverse("thread-detail", args=[999_999])).status_code == 404
    assert client.get(reverse("workspace-detail", args=[999_999])).status_code == 404


def test_a_member_starts_a_thread_and_lands_in_it(client, team):
    client.force_login(team.member)
    response = client.post(
        reverse("workspace-detail", args=[team.workspace.pk]), {"title": "Naming"}
    )
    thread = Thread.objects.get(title="Naming")
    assert response["Location"] == reverse("thread-detail", args=[thread.pk])
    assert thread.workspace == team.workspace


def test_the_thread_page_shows_the_transcript_escaped_and_connects_its_socket(client, team):
    MessageFactory(thread=team.thread, author=team.owner, body="<script>alert(1)</script> **bold**")
    client.force_login(team.member)
    response = client.get(reverse("thread-detail", args=[team.thread.pk]))
    assert response.status_code == 200
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "<script>alert(1)" not in response.text
    assert "<strong>bold</strong>" in response.text
    assert f'ws-connect="/ws/threads/{team.thread.pk}/?nav=1"' in response.text


def test_an_owner_adds_a_member_by_username_or_email(client, team):
    carol = UserFactory(username="carol", email="carol@example.org")
    dave = UserFactory(username="dave", email="dave@example.org")
    client.force_login(team.owner)
    url = reverse("member-add", args=[team.workspace.pk])
    response = client.post(url, {"username_or_email": "carol"}, headers={"HX-Request": "true"})
    assert "Added carol" in response.text
    client.post(url, {"username_or_email": "DAVE@example.org"}, headers={"HX-Request": "true"})
    assert set(team.workspace.members.all()) >= {carol, dave}


def test_adding_an_unknown_or_existing_member_explains_why_not(client, team):
    client.force_login(team.owner)
    url = reverse("member-add", args=[team.workspace.pk])
    response = client.post(url, {"username_or_email": "nobody"}, headers={"HX-Request": "true"})
    assert "No user with the username or e-mail" in response.text
    response = client.post(url, {"username_or_email": "bob"}, headers={"HX-Request": "true"})
    assert "already a member" in response.text


def test_only_owners_add_members(client, team):
    client.force_login(team.member)
    url = reverse("member-add", args=[team.workspace.pk])
    response = client.post(url, {"username_or_email": "mallory"})
    assert response.status_code == 403
    assert not team.workspace.members.filter(username="mallory").exists()


def test_message_times_carry_the_instant_for_the_viewers_clock(client, team, settings):
    """The server writes its own time zone's time; the page's script rewrites it in the viewer's."""
    settings.TIME_ZONE = "Asia/Tokyo"
    message = MessageFactory.create(thread=team.thread, author=team.member)
    message.created_at = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
    message.save(update_fields=["created_at"])
    client.force_login(team.member)
    page = client.get(reverse("thread-detail", args=[team.thread.pk])).text
    assert '<time datetime="2026-01-16T08:30:00+09:00">08:30</time>' in page
    assert "js/roundtable.js" in page


@pytest.mark.parametrize(
    ("stop_reason", "footer"),
    [
        ("stop", "finished"),
        ("length", "hit the length limit"),
        ("stopped by bob", "stopped by bob"),
    ],
)
def test_an_answers_footer_says_how_it_ended_in_words(client, team, stop_reason, footer):
    reply = AssistantMessageFactory.create(
        thread=team.thread, status=Message.Status.DONE, body="Nova", stop_reason=stop_reason
    )
    Generation.objects.create(
        message=reply, model_name="SmolLM2", prompt_tokens=10, completion_tokens=5
    )
    client.force_login(team.member)

    page = client.get(reverse("thread-detail", args=[team.thread.pk])).text

    assert f'<span class="ended" title="How the answer ended">{footer}</span>' in page
    assert "stop: " not in page


def test_pages_name_their_icon_and_favicon_ico_leads_to_it(client):
    page = client.get(reverse("login")).text
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page

    icon = client.get("/favicon.ico", follow=True)

    assert icon.redirect_chain == [("/static/favicon.svg", 302)]
    assert icon.status_code == 200
    assert icon.headers["Content-Type"] == "image/svg+xml"
