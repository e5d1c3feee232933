"""Owners remove members; members leave; a workspace always keeps an owner."""

import pytest
from django.urls import reverse

from workspace.models import Membership

pytestmark = [pytest.mark.services, pytest.mark.django_db]


def _remove(client, team, user):
    url = reverse("member-remove", args=[team.workspace.pk, user.pk])
    return client.post(url, headers={"HX-Request": "true"})


def _is_member(team, user) -> bool:
    return Membership.objects.filter(workspace=team.workspace, user=user).exists()


def test_an_owner_removes_a_member(client, team):
    client.force_login(team.owner)

    response = _remove(client, team, team.member)

    assert response.status_code == 200
    assert not _is_member(team, team.member)
    assert "bob" not in response.content.decode()


def test_a_member_cannot_remove_someone_else(client, team):
    client.force_login(team.member)

    assert _remove(client, team, team.owner).status_code == 403
    assert _is_member(team, team.owner)


def test_a_member_leaves_and_is_sent_to_their_workspaces(client, team):
    client.force_login(team.member)

    response = _remove(client, team, team.member)

    assert response.headers["HX-Redirect"] == reverse("workspace-list")
    assert not _is_member(team, team.member)


def test_the_last_owner_cannot_leave(client, team):
    client.force_login(team.owner)

    response = _remove(client, team, team.owner)

    assert "needs an owner" in response.content.decode()
    assert _is_member(team, team.owner)


def test_outsiders_get_404(client, team):
    client.force_login(team.outsider)
    assert _remove(client, team, team.member).status_code == 404
    assert _is_member(team, team.member)
