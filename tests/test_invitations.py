"""Invitation links: owners create and revoke them; whoever holds one joins, by logging in or
signing up. Links that no longer work say so and do nothing else."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from workspace.models import Invitation, Membership
from workspace.services import invitation_accept, invitation_create, invitation_revoke

from .factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.services, pytest.mark.django_db]

HTMX = {"HX-Request": "true"}
NEW_ACCOUNT = {
    "username": "carol",
    "email": "",
    "password1": "a long and unusual passphrase",
    "password2": "a long and unusual passphrase",
}


def invitation_link(team, **options) -> str:
    _, token = invitation_create(workspace=team.workspace, created_by=team.owner, **options)
    return reverse("invitation", args=[token])


def is_member(team, user) -> bool:
    return Membership.objects.filter(workspace=team.workspace, user=user).exists()


def test_an_owner_creates_a_link_shown_once_in_the_members_panel(client, team):
    client.force_login(team.owner)
    url = reverse("invitation-create", args=[team.workspace.pk])

    response = client.post(url, {"valid_for_days": 3, "max_uses": 5}, headers=HTMX)

    assert response.status_code == 200
    invitation = Invitation.objects.get(workspace=team.workspace)
    assert invitation.created_by == team.owner
    assert invitation.max_uses == 5
    assert invitation.expires_at - timezone.now() == pytest.approx(
        timedelta(days=3), abs=timedelta(minutes=1)
    )
    link = response.context["new_invitation_link"]
    assert link.startswith("http://testserver/invite/")
    assert link in response.text
    assert list(response.context["invitations"]) == [invitation]
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert token not in invitation.token_hash
    assert link not in client.get(reverse("workspace-detail", args=[team.workspace.pk])).text


def test_links_are_valid_for_seven_days_unless_the_owner_says_otherwise(client, team):
    client.force_login(team.owner)
    client.post(
        reverse("invitation-create", args=[team.workspace.pk]),
        {"valid_for_days": 7, "max_uses": ""},
    )
    invitation = Invitation.objects.get()
    assert invitation.max_uses is None
    assert invitation.expires_at - invitation.created_at == pytest.approx(
        timedelta(days=7), abs=timedelta(minutes=1)
    )


def test_members_who_are_not_owners_cannot_create_or_revoke_links(client, team):
    invitation, _ = invitation_create(workspace=team.workspace, created_by=team.owner)
    client.force_login(team.member)
    create = client.post(reverse("invitation-create", args=[team.workspace.pk]))
    revoke = client.post(
        reverse("invitation-revoke", args=[team.workspace.pk, invitation.pk]), headers=HTMX
    )
    assert (create.status_code, revoke.status_code) == (403, 403)
    assert Invitation.objects.get().revoked_at is None


def test_outsiders_get_404_for_a_workspace_they_are_not_in(client, team):
    client.force_login(team.outsider)
    response = client.post(reverse("invitation-create", args=[team.workspace.pk]))
    assert response.status_code == 404
    assert not Invitation.objects.exists()


def test_a_logged_in_person_joins_after_confirming(client, team):
    link = invitation_link(team)
    client.force_login(team.outsider)

    page = client.get(link)
    assert page.status_code == 200
    assert "Join as mallory" in page.text
    assert not is_member(team, team.outsider)

    response = client.post(link)
    assert response["Location"] == reverse("workspace-detail", args=[team.workspace.pk])
    membership = Membership.objects.get(workspace=team.workspace, user=team.outsider)
    assert membership.role == Membership.Role.MEMBER
    assert Invitation.objects.get().use_count == 1


def test_a_logged_out_person_is_offered_to_log_in_and_come_back(client, team):
    link = invitation_link(team)
    page = client.get(link)
    login_url = f"{reverse('login')}?next={link}"
    assert login_url in page.text

    response = client.post(login_url, {"username": "mallory", "password": PASSWORD})
    assert response["Location"] == link


def test_a_visitor_signs_up_through_the_link_and_lands_in_the_workspace(client, team):
    link = invitation_link(team)
    assert "Create an account" in client.get(link).text

    response = client.post(link, NEW_ACCOUNT)

    assert response["Location"] == reverse("workspace-detail", args=[team.workspace.pk])
    carol = get_user_model().objects.get(username="carol")
    assert carol.check_password(NEW_ACCOUNT["password1"])
    assert is_member(team, carol)
    assert client.get(response["Location"]).context["user"] == carol


def test_sign_up_refuses_weak_passwords_and_taken_usernames(client, team):
    link = invitation_link(team)
    weak = client.post(link, {**NEW_ACCOUNT, "password1": "password", "password2": "password"})
    taken = client.post(link, {**NEW_ACCOUNT, "username": "Bob"})
    assert "This password is too common." in weak.text
    assert "A user with that username already exists." in taken.text
    assert not get_user_model().objects.filter(username="carol").exists()
    assert Invitation.objects.get().use_count == 0


def test_with_sign_up_disabled_links_only_let_existing_accounts_join(client, team, settings):
    settings.SIGNUP_ENABLED = False
    link = invitation_link(team)

    page = client.get(link)
    assert "Log in" in page.text
    assert "Create an account" not in page.text
    client.post(link, NEW_ACCOUNT)
    assert not get_user_model().objects.filter(username="carol").exists()

    client.force_login(team.outsider)
    client.post(link)
    assert is_member(team, team.outsider)


def assert_link_joins_nobody(client, team, token: str, *, reason: str) -> None:
    """The link's page says why it no longer works, shows nothing else, and changes nothing."""
    link = reverse("invitation", args=[token])
    page = client.get(link)
    assert page.status_code == 410
    assert reason in page.text
    assert team.workspace.name not in page.text
    assert client.post(link, NEW_ACCOUNT).status_code == 410
    client.force_login(team.outsider)
    assert client.post(link).status_code == 410
    assert not is_member(team, team.outsider)
    assert not get_user_model().objects.filter(username="carol").exists()


def test_an_expired_link_joins_nobody(client, team):
    _, token = invitation_create(
        workspace=team.workspace, created_by=team.owner, valid_for=timedelta(seconds=-1)
    )
    assert_link_joins_nobody(client, team, token, reason="This invitation link has expired.")


def test_a_revoked_link_joins_nobody(client, team):
    invitation, token = invitation_create(workspace=team.workspace, created_by=team.owner)
    invitation_revoke(invitation=invitation)
    assert_link_joins_nobody(client, team, token, reason="has been revoked")


def test_a_used_up_link_joins_nobody_else(client, team):
    invitation, token = invitation_create(
        workspace=team.workspace, created_by=team.owner, max_uses=1
    )
    invitation_accept(invitation=invitation, user=UserFactory.create())
    assert_link_joins_nobody(client, team, token, reason="has been used up")


def test_an_unknown_link_is_not_found(client, team):
    client.force_login(team.outsider)
    assert client.get(reverse("invitation", args=["no-such-token"])).status_code == 404


def test_an_owner_sees_active_links_and_revokes_one(client, team):
    kept, _ = invitation_create(workspace=team.workspace, created_by=team.owner)
    revoked, _ = invitation_create(workspace=team.workspace, created_by=team.owner)
    invitation_create(workspace=team.workspace, created_by=team.owner, valid_for=-timedelta(1))
    client.force_login(team.owner)

    response = client.post(
        reverse("invitation-revoke", args=[team.workspace.pk, revoked.pk]), headers=HTMX
    )

    assert list(response.context["invitations"]) == [kept]
    revoked.refresh_from_db()
    assert revoked.revoked_at is not None


def test_a_member_accepting_again_keeps_their_role_and_uses_nothing(client, team):
    link = invitation_link(team, max_uses=1)
    client.force_login(team.owner)

    page = client.get(link)
    assert "You are already a member." in page.text
    client.post(link)

    membership = Membership.objects.get(workspace=team.workspace, user=team.owner)
    assert membership.role == Membership.Role.OWNER
    assert Invitation.objects.get().use_count == 0
