"""Headers on every response, and login throttling."""

import pytest
from django.urls import reverse

from .factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_pages_allow_only_our_own_scripts_and_styles(client, team):
    client.force_login(team.member)
    response = client.get(reverse("thread-detail", args=[team.thread.pk]))

    policy = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"].startswith("'self' 'nonce-")
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    nonce = directives["style-src"].split("'nonce-")[1].rstrip("'")
    assert f'<style nonce="{nonce}">' in response.content.decode(), "the one inline style runs"
    assert "<script>" not in response.content.decode(), "no inline script"


def test_every_page_switches_off_browser_features_it_does_not_use(client):
    response = client.get(reverse("login"))
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert "geolocation=()" in response.headers["Permissions-Policy"]


def test_private_pages_and_json_are_never_stored(client, team):
    client.force_login(team.member)
    page = client.get(reverse("thread-detail", args=[team.thread.pk]))
    message = team.thread.messages.create(author=team.member, body="hi")
    status = client.get(reverse("message-status", args=[message.pk]))

    for response in (page, status):
        assert "no-store" in response.headers["Cache-Control"]
        assert "private" in response.headers["Cache-Control"]


@pytest.fixture
def cheap_password_hashes(settings, team):
    """The logins here are about lockouts, not hashes: a cheap hasher for them, instead of the
    real one that takes a third of a CPU second per password on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for person in (team.owner, team.member):
        person.set_password(PASSWORD)
        person.save(update_fields=["password"])


def _log_in(client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


@pytest.mark.usefixtures("cheap_password_hashes")
def test_repeated_wrong_passwords_lock_the_login_out_even_with_the_right_one(
    client, team, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _log_in(client, "bob", "wrong").status_code == 200  # the form, with its error
    assert _log_in(client, "bob", "wrong").status_code == 429  # the last one allowed

    locked = _log_in(client, "bob", PASSWORD)

    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.usefixtures("cheap_password_hashes")
def test_a_lockout_is_for_that_username_only(client, team, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _log_in(client, "bob", "wrong")

    response = _log_in(client, "alice", PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(team.owner.pk)
