"""Sources and search over the API: the sources page's and the search box's, as the token's
person, with their checks."""

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from api.services import api_token_create
from knowledge.models import Source
from tests.factories import MessageFactory, WorkspaceFactory
from workspace.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rate_counters() -> None:
    cache.clear()


@pytest.fixture
def headers(team) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token_create(user=team.member, name='k')[1]}"}


def test_a_url_source_is_added_queued_and_its_status_read(
    client, team, headers, sent_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/workspaces/{team.workspace.pk}/sources",
            {"url": "https://example.com/handbook"},
            content_type="application/json",
            headers=headers,
        )
    assert response.status_code == 201, response.content
    source = response.json()
    assert (source["kind"], source["status"]) == ("url", "queued")
    assert [name for name, _ in sent_tasks] == ["knowledge.ingest"]
    status = client.get(f"/api/sources/{source['id']}", headers=headers).json()
    assert status["url"] == "https://example.com/handbook"
    listed = client.get(f"/api/workspaces/{team.workspace.pk}/sources", headers=headers).json()
    assert [s["id"] for s in listed] == [source["id"]]


def test_an_address_that_cannot_be_fetched_is_refused_saying_why(client, team, headers, sent_tasks):
    response = client.post(
        f"/api/workspaces/{team.workspace.pk}/sources",
        {"url": "ftp://example.com/file"},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 400
    assert "http" in response.json()["error"]["message"]
    assert not Source.objects.exists()


def test_a_file_is_uploaded_as_a_source(client, team, headers, sent_tasks):
    upload = SimpleUploadedFile("notes.md", b"# Notes\n\nWe ship in May.\n", "text/markdown")
    response = client.post(
        f"/api/workspaces/{team.workspace.pk}/sources/file", {"file": upload}, headers=headers
    )
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "file"
    assert Source.objects.get().file_name == "notes.md"


def test_a_file_larger_than_what_django_keeps_in_memory_is_accepted_and_queued(
    client, team, headers, sent_tasks, settings, django_capture_on_commit_callbacks
):
    size = 3 * 1024 * 1024  # over DATA_UPLOAD_MAX_MEMORY_SIZE and FILE_UPLOAD_MAX_MEMORY_SIZE
    assert size > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert size > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    data = (b"We ship the widget in May.\n" * (size // 27 + 1))[:size]
    upload = SimpleUploadedFile("handbook.txt", data, "text/plain")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/workspaces/{team.workspace.pk}/sources/file", {"file": upload}, headers=headers
        )
    assert response.status_code == 201, response.content
    assert (response.json()["status"], response.json()["size"]) == ("queued", size)
    source = Source.objects.get()
    assert bytes(source.data) == data
    assert sent_tasks == [("knowledge.ingest", [source.pk, 0])]


def test_an_oversize_upload_is_refused_by_its_declared_length(client, team, headers, settings):
    settings.KNOWLEDGE_MAX_BYTES = 1000
    upload = SimpleUploadedFile("big.txt", b"x" * 100_000, "text/plain")
    response = client.post(
        f"/api/workspaces/{team.workspace.pk}/sources/file", {"file": upload}, headers=headers
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "body_too_large")
    assert not Source.objects.exists()


def test_a_file_just_over_the_limit_gets_413_in_the_apis_error_format_and_adds_nothing(
    client, team, headers, settings, sent_tasks
):
    settings.KNOWLEDGE_MAX_BYTES = 3 * 1024 * 1024
    upload = SimpleUploadedFile("big.txt", b"x" * (settings.KNOWLEDGE_MAX_BYTES + 1), "text/plain")
    response = client.post(
        f"/api/workspaces/{team.workspace.pk}/sources/file", {"file": upload}, headers=headers
    )
    assert response.status_code == 413, response.content
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "file_too_large")
    assert "3,145,728 bytes" in error["message"]
    assert not Source.objects.exists()
    assert sent_tasks == []


def test_a_body_over_djangos_own_limit_gets_413_not_a_server_error(client, team, headers, settings):
    settings.API_MAX_BODY_BYTES = 10 * 1024 * 1024
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = client.post(
        f"/api/workspaces/{team.workspace.pk}/sources",
        {"url": "https://example.com/" + "a" * 1500},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 413, response.content
    assert response.json()["error"]["code"] == "body_too_large"
    assert not Source.objects.exists()


def test_viewers_and_read_only_tokens_add_no_sources(client, team, headers):
    read_only = api_token_create(user=team.member, name="ro", read_only=True)[1]
    body = {"url": "https://example.com/a"}
    path = f"/api/workspaces/{team.workspace.pk}/sources"
    refused = client.post(
        path,
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {read_only}"},
    )
    assert refused.json()["error"]["code"] == "read_only_token"
    Membership.objects.filter(user=team.member).update(role=Membership.Role.VIEWER)
    viewer = client.post(path, body, content_type="application/json", headers=headers)
    assert viewer.status_code == 403
    assert viewer.json()["error"]["code"] == "viewer"
    assert not Source.objects.exists()


def test_other_workspaces_sources_are_not_found(client, team, headers, sent_tasks):
    other = WorkspaceFactory.create()
    source = Source.objects.create(
        workspace=other, kind=Source.Kind.URL, title="x", url="https://x.org"
    )
    assert client.get(f"/api/sources/{source.pk}", headers=headers).status_code == 404
    assert client.get(f"/api/workspaces/{other.pk}/sources", headers=headers).status_code == 404


def test_search_finds_the_workspaces_messages_only(client, team, headers):
    MessageFactory.create(thread=team.thread, author=team.owner, body="the zebra release")
    elsewhere = MessageFactory.create(body="another zebra")
    found = client.get(
        f"/api/workspaces/{team.workspace.pk}/search?q=zebra", headers=headers
    ).json()
    assert found["words"] == ["zebra"]
    [hit] = found["messages"]
    assert hit["title"] == team.thread.title
    assert "<mark>zebra</mark>" in hit["snippet"]
    assert (
        client.get(
            f"/api/workspaces/{elsewhere.thread.workspace_id}/search?q=zebra", headers=headers
        ).status_code
        == 404
    )
    assert (
        client.get(
            f"/api/workspaces/{team.workspace.pk}/search?q=zebra&limit=500", headers=headers
        ).status_code
        == 400
    )
