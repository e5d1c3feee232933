"""API tokens: made and revoked by their person, stored hashed, acting as their person."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from api.models import ApiToken
from api.services import api_token_create, api_token_revoke
from tests.factories import MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rate_counters() -> None:
    cache.clear()  # ids repeat between tests: counters of an earlier test's person must go


def bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_a_person_creates_a_token_shown_once_and_stored_only_as_a_hash(client, team):
    client.force_login(team.member)
    response = client.post(reverse("api-tokens"), {"name": "release script"})
    assert response.status_code == 201
    secret = response.context["created"]["secret"]
    assert secret.startswith("rt_")
    assert secret in response.content.decode()
    token = ApiToken.objects.get(user=team.member)
    assert token.token_hash == ApiToken.hash_token(secret)
    assert secret not in str(token.__dict__)
    # Shown once: the list shows only its first characters.
    page = client.get(reverse("api-tokens")).content.decode()
    assert secret not in page
    assert token.hint in page


def test_a_token_acts_as_its_person_and_records_its_last_use(client, team):
    token, secret = api_token_create(user=team.member, name="cli")
    assert token.last_used_at is None
    response = client.get("/api/workspaces", **bearer(secret))
    assert response.status_code == 200
    assert [w["id"] for w in response.json()] == [team.workspace.pk]
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer rt_not-a-token", "Basic dXNlcjpwYXNz", "Token rt_x"],
)
def test_missing_and_wrong_tokens_get_401_in_the_api_error_format(client, team, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/api/workspaces", **extra)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"
    assert response.json()["error"]["code"] == "invalid_token"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_stops_working_at_once(client, team):
    client.force_login(team.member)
    token, secret = api_token_create(user=team.member, name="cli")
    assert client.get("/api/workspaces", **bearer(secret)).status_code == 200
    response = client.post(reverse("api-token-revoke", args=[token.pk]))
    assert response.status_code == 302
    assert client.get("/api/workspaces", **bearer(secret)).status_code == 401


def test_nobody_revokes_another_persons_token(client, team):
    token, secret = api_token_create(user=team.member, name="cli")
    client.force_login(team.outsider)
    assert client.post(reverse("api-token-revoke", args=[token.pk])).status_code == 404
    assert client.get("/api/workspaces", **bearer(secret)).status_code == 200


def test_a_deactivated_persons_token_no_longer_works(client, team):
    _, secret = api_token_create(user=team.member, name="cli")
    team.member.is_active = False
    team.member.save()
    assert client.get("/api/workspaces", **bearer(secret)).status_code == 401


def test_a_token_limited_to_a_workspace_sees_nothing_of_the_others(client, team):
    other = WorkspaceFactory.create()
    MembershipFactory.create(workspace=other, user=team.member)
    _, secret = api_token_create(user=team.member, name="one", workspace=team.workspace)
    listed = client.get("/api/workspaces", **bearer(secret)).json()
    assert [w["id"] for w in listed] == [team.workspace.pk]
    assert client.get(f"/api/workspaces/{other.pk}/threads", **bearer(secret)).status_code == 404
    ok = client.get(f"/api/workspaces/{team.workspace.pk}/threads", **bearer(secret))
    assert ok.status_code == 200


def test_a_token_cannot_be_limited_to_someone_elses_workspace(team):
    with pytest.raises(Exception, match="not a member"):
        api_token_create(user=team.outsider, name="x", workspace=team.workspace)


def test_the_form_offers_only_the_persons_workspaces(client, team):
    WorkspaceFactory.create(name="Not yours")
    client.force_login(team.member)
    page = client.get(reverse("api-tokens")).content.decode()
    assert team.workspace.name in page
    assert "Not yours" not in page


def test_a_read_only_token_reads_but_changes_nothing(client, team):
    _, secret = api_token_create(user=team.member, name="ro", read_only=True)
    thread = team.thread
    assert client.get(f"/api/threads/{thread.pk}/messages", **bearer(secret)).status_code == 200
    response = client.post(
        f"/api/threads/{thread.pk}/messages",
        {"body": "hello"},
        content_type="application/json",
        **bearer(secret),
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "read_only_token"
    assert not thread.messages.exists()


def test_revoking_twice_keeps_the_first_time(team):
    token, _ = api_token_create(user=team.member, name="cli")
    api_token_revoke(token=token)
    first = token.revoked_at
    api_token_revoke(token=token)
    assert token.revoked_at == first


def test_staff_see_tokens_in_the_admin_without_their_secret(admin_client, team):
    token, secret = api_token_create(user=team.member, name="cli")
    page = admin_client.get(reverse("admin:api_apitoken_changelist")).content.decode()
    assert token.name in page
    assert secret not in page


def test_staff_revoke_tokens_from_the_admin(admin_client, client, team):
    token, secret = api_token_create(user=team.member, name="leaked")
    response = admin_client.post(
        reverse("admin:api_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert client.get("/api/workspaces", **bearer(secret)).status_code == 401


def test_every_page_links_to_the_persons_tokens(client, team):
    client.force_login(team.member)
    page = client.get("/").content.decode()
    assert f'href="{reverse("api-tokens")}"' in page


# --- Expiry -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "days"), [("30", 30), ("90", 90), ("365", 365), ("never", None)]
)
def test_a_person_chooses_when_a_new_token_expires(client, team, choice, days):
    client.force_login(team.member)
    response = client.post(reverse("api-tokens"), {"name": "ci", "lifetime": choice})

    assert response.status_code == 201
    token = ApiToken.objects.get(user=team.member)
    page = response.content.decode()
    if days is None:
        assert token.expires_at is None
        assert "It never expires" in page
        assert 'class="warning"' in page
    else:
        assert token.expires_at is not None
        expected = timezone.now() + timedelta(days=days)
        assert abs(token.expires_at - expected) < timedelta(minutes=1)
        assert "It works until" in page


def test_a_token_expires_after_90_days_unless_said_otherwise(client, team):
    client.force_login(team.member)
    form = client.get(reverse("api-tokens")).context["form"]
    assert form["lifetime"].value() == "90"
    # A page loaded before tokens could expire posts no choice: the default holds.
    client.post(reverse("api-tokens"), {"name": "from an old page"})
    api_token_create(user=team.member, name="script")
    for made in ApiToken.objects.filter(user=team.member):
        assert made.expires_at is not None
        expected = timezone.now() + timedelta(days=90)
        assert abs(made.expires_at - expected) < timedelta(minutes=1)


@pytest.mark.parametrize("choice", ["7", "forever", "90 days"])
def test_the_form_refuses_an_expiry_it_does_not_offer_and_keeps_what_was_typed(
    client, team, choice
):
    client.force_login(team.member)
    response = client.post(reverse("api-tokens"), {"name": "release script", "lifetime": choice})

    assert response.status_code == 200
    assert not ApiToken.objects.exists()
    assert "Choose when the token expires" in response.content.decode()
    assert response.context["form"]["name"].value() == "release script"


@pytest.mark.parametrize("path", ["/api/workspaces", "/v1/models"])
def test_an_expired_token_gets_401_saying_it_expired(client, team, path):
    token, secret = api_token_create(user=team.member, name="old script")
    assert client.get(path, **bearer(secret)).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client.get(path, **bearer(secret))

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "authentication_error"
    assert error["code"] == "token_expired"
    assert "expired on" in error["message"]
    assert reverse("api-tokens") in error["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_the_tokens_page_shows_when_each_token_expires(client, team):
    dated, _ = api_token_create(user=team.member, name="dated", lifetime=timedelta(days=30))
    api_token_create(user=team.member, name="forever", lifetime=None)
    expired, _ = api_token_create(user=team.member, name="gone")
    lapsed_at = timezone.now() - timedelta(days=1)
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=lapsed_at)
    client.force_login(team.member)

    page = client.get(reverse("api-tokens")).content.decode()

    def shown(moment):
        return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")

    assert shown(dated.expires_at) in page
    assert "never: works until revoked" in page
    assert f"expired {shown(lapsed_at)}" in page


def test_staff_list_the_tokens_that_expire_within_14_days(admin_client, team):
    soon, _ = api_token_create(user=team.member, name="soon", lifetime=timedelta(days=5))
    api_token_create(user=team.member, name="later", lifetime=timedelta(days=60))
    api_token_create(user=team.member, name="unbounded", lifetime=None)
    expired, _ = api_token_create(user=team.member, name="lapsed")
    ApiToken.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    changelist = reverse("admin:api_apitoken_changelist")

    listed = admin_client.get(changelist, {"expiry": "soon"})

    assert [token.name for token in listed.context["cl"].result_list] == [soon.name]
    page = admin_client.get(changelist).content.decode()
    assert "Expiring within 14 days" in page
    assert "never" in page  # the unbounded token's expiry column
