"""The sources page: members list, upload, add URLs, remove, re-index and cancel; rows live."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from config.asgi import application
from harness.ws_client import session_cookie
from knowledge.models import Source
from knowledge.services import source_cancel, source_ingest
from realtime.consumers import CLOSE_NOT_AUTHENTICATED, CLOSE_NOT_FOUND
from workspace.models import Membership

from .conftest import Team
from .knowledge_samples import MARKDOWN, SPEC_PAGES, pdf_make

pytestmark = pytest.mark.django_db(transaction=True)

HOST = (b"host", b"localhost")
ORIGIN = (b"origin", b"http://localhost")


def _client(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


def _upload(client: Client, team: Team, name: str, data: bytes, **extra: object):
    return client.post(
        reverse("source-upload", args=[team.workspace.pk]),
        {"file": SimpleUploadedFile(name, data)},
        **extra,  # type: ignore[arg-type]
    )


def test_a_member_uploads_a_file_and_sees_it_queued_then_ready(
    team: Team, sent_tasks: list
) -> None:
    client = _client(team.member)
    response = _upload(client, team, "spec.pdf", pdf_make(SPEC_PAGES))
    assert response.status_code == 302
    source = Source.objects.get()
    assert (source.title, source.added_by, source.status) == ("spec.pdf", team.member, "queued")
    assert sent_tasks == [("knowledge.ingest", [source.pk, 0])]

    page = client.get(reverse("sources", args=[team.workspace.pk]))
    assert page.status_code == 200
    assert f'id="source-{source.pk}"' in page.content.decode()
    assert "Queued" in page.content.decode()

    source_ingest(source_id=source.pk, generation=0)
    html = client.get(reverse("sources", args=[team.workspace.pk])).content.decode()
    assert "Ready" in html
    assert "3 pages" in html
    assert "bob" in html


def test_an_unusable_upload_is_refused_with_the_reason(team: Team, sent_tasks: list) -> None:
    response = _upload(_client(team.member), team, "scan.pdf", b"not a pdf at all")
    assert response.status_code == 400
    assert "named as a PDF but is not one" in response.content.decode()
    assert not Source.objects.exists()


def test_an_upload_over_the_limit_is_refused(
    team: Team, sent_tasks: list, settings: object
) -> None:
    settings.KNOWLEDGE_MAX_BYTES = 100  # type: ignore[attr-defined]
    response = _upload(_client(team.member), team, "notes.txt", b"x" * 101)
    assert response.status_code == 413
    assert "larger than the limit" in response.content.decode()
    assert not Source.objects.exists()


def test_a_file_larger_than_what_django_keeps_in_memory_is_uploaded(
    team: Team, sent_tasks: list, settings: object
) -> None:
    size = 3 * 1024 * 1024
    assert size > settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # type: ignore[attr-defined]
    data = (b"We ship the widget in May.\n" * (size // 27 + 1))[:size]
    response = _upload(_client(team.member), team, "handbook.txt", data)
    assert response.status_code == 302
    source = Source.objects.get()
    assert (source.size, bytes(source.data)) == (size, data)
    assert sent_tasks == [("knowledge.ingest", [source.pk, 0])]


def test_a_request_body_far_over_the_limit_is_refused_before_it_is_read(
    team: Team, sent_tasks: list, settings: object
) -> None:
    settings.KNOWLEDGE_MAX_BYTES = 100  # type: ignore[attr-defined]
    response = _upload(_client(team.member), team, "big.txt", b"x" * 200_000)
    assert response.status_code == 413
    assert "larger than the limit of" in response.content.decode()
    assert not Source.objects.exists()


def test_a_member_adds_a_url_and_a_bad_one_is_refused(team: Team, sent_tasks: list) -> None:
    client = _client(team.member)
    url = reverse("source-url", args=[team.workspace.pk])
    assert client.post(url, {"url": "https://example.com/spec.pdf"}).status_code == 302
    assert Source.objects.get().url == "https://example.com/spec.pdf"

    refused = client.post(url, {"url": "gopher://127.0.0.1:6379/"})
    assert refused.status_code == 400
    assert "Only http:// and https://" in refused.content.decode()


def test_viewers_see_the_sources_but_cannot_change_them(team: Team, sent_tasks: list) -> None:
    Membership.objects.filter(user=team.member).update(role=Membership.Role.VIEWER)
    source = Source.objects.create(workspace=team.workspace, kind="url", title="x", url="http://x")
    client = _client(team.member)

    page = client.get(reverse("sources", args=[team.workspace.pk])).content.decode()
    assert 'class="sources read-only"' in page
    assert "Upload a file" not in page
    assert _upload(client, team, "a.txt", b"hello").status_code == 403
    for name in ("source-remove", "source-reindex", "source-cancel"):
        assert client.post(reverse(name, args=[source.pk])).status_code == 403
    assert Source.objects.filter(pk=source.pk).exists()


def test_outsiders_get_not_found(team: Team, sent_tasks: list) -> None:
    source = Source.objects.create(workspace=team.workspace, kind="url", title="x", url="http://x")
    client = _client(team.outsider)
    assert client.get(reverse("sources", args=[team.workspace.pk])).status_code == 404
    assert _upload(client, team, "a.txt", b"hello").status_code == 404
    assert client.post(reverse("source-remove", args=[source.pk])).status_code == 404


def test_remove_reindex_and_cancel(team: Team, sent_tasks: list) -> None:
    client = _client(team.member)
    _upload(client, team, "handbook.md", MARKDOWN.encode())
    source = Source.objects.get()

    cancel = client.post(reverse("source-cancel", args=[source.pk]), HTTP_HX_REQUEST="true")
    assert cancel.status_code == 204
    source.refresh_from_db()
    assert (source.status, source.error) == ("failed", "Cancelled by bob.")

    assert client.post(reverse("source-reindex", args=[source.pk])).status_code == 302
    source.refresh_from_db()
    assert (source.status, source.generation) == ("queued", 2)
    assert sent_tasks[-1] == ("knowledge.ingest", [source.pk, 2])

    assert client.post(reverse("source-remove", args=[source.pk])).status_code == 302
    assert not Source.objects.exists()


def _refused_source(team: Team) -> Source:
    """A web address the fetch rules refused when it was read (it leads to this server)."""
    client = _client(team.member)
    client.post(reverse("source-url", args=[team.workspace.pk]), {"url": "http://127.0.0.1/"})
    source = Source.objects.get()
    source_ingest(source_id=source.pk, generation=source.generation)
    source.refresh_from_db()
    return source


def _row(page: str, source: Source) -> str:
    start = page.index(f'<tr id="source-{source.pk}"')
    return page[start : page.index("</tr>", start)]


def test_a_refused_address_says_why_and_offers_to_edit_it_instead_of_reindexing(
    team: Team, sent_tasks: list
) -> None:
    source = _refused_source(team)
    assert (source.status, source.refused) == ("failed", True)
    assert "loopback" in source.error

    page = _client(team.member).get(reverse("sources", args=[team.workspace.pk]))
    row = _row(page.content.decode(), source)
    assert "127.0.0.1 is a loopback address" in row
    assert "Edit address" in row
    assert f'action="{reverse("source-url-change", args=[source.pk])}"' in row
    assert 'value="http://127.0.0.1/"' in row
    assert "Re-index" not in row
    assert "Remove" in row


def test_a_failure_that_may_pass_keeps_its_reindex(team: Team, sent_tasks: list) -> None:
    source = Source.objects.create(
        workspace=team.workspace, kind="url", title="x", url="https://example.com/",
        status="failed", error="example.com did not answer in time.",
    )  # fmt: skip
    page = _client(team.member).get(reverse("sources", args=[team.workspace.pk]))
    row = _row(page.content.decode(), source)
    assert "Re-index" in row
    assert "Edit address" not in row


def test_an_edited_address_is_fetched_anew(team: Team, sent_tasks: list) -> None:
    source = _refused_source(team)
    response = _client(team.member).post(
        reverse("source-url-change", args=[source.pk]),
        {"url": " https://example.com/handbook "},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 204
    source.refresh_from_db()
    assert (source.url, source.title) == ("https://example.com/handbook",) * 2
    assert (source.status, source.error, source.refused) == ("queued", "", False)
    assert sent_tasks[-1] == ("knowledge.ingest", [source.pk, source.generation])
    assert source.generation == 1


def test_an_edited_address_is_checked_as_a_new_one_and_a_bad_one_changes_nothing(
    team: Team, sent_tasks: list
) -> None:
    source = _refused_source(team)
    client = _client(team.member)
    url = reverse("source-url-change", args=[source.pk])
    refused = client.post(url, {"url": "gopher://<b>x</b>/"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 400
    assert refused.content.decode() == "Only http:// and https:// addresses can be fetched."
    too_long = client.post(url, {"url": "https://example.com/" + "a" * 2000})
    assert too_long.status_code == 400
    assert "That address is too long." in too_long.content.decode()
    source.refresh_from_db()
    assert (source.url, source.status, source.refused) == ("http://127.0.0.1/", "failed", True)
    assert len(sent_tasks) == 1  # the first fetch's only


def test_only_editors_of_the_workspace_edit_an_address(team: Team, sent_tasks: list) -> None:
    source = _refused_source(team)
    url = reverse("source-url-change", args=[source.pk])
    body = {"url": "https://example.com/"}
    assert _client(team.outsider).post(url, body).status_code == 404
    Membership.objects.filter(user=team.member).update(role=Membership.Role.VIEWER)
    assert _client(team.member).post(url, body).status_code == 403
    source.refresh_from_db()
    assert source.url == "http://127.0.0.1/"


def test_only_a_web_address_has_an_address_to_edit(team: Team, sent_tasks: list) -> None:
    _upload(_client(team.member), team, "handbook.md", MARKDOWN.encode())
    source = Source.objects.get()
    response = _client(team.member).post(
        reverse("source-url-change", args=[source.pk]),
        {"url": "https://example.com/"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    source.refresh_from_db()
    assert (source.kind, source.url) == ("file", "")


def test_the_workspace_page_links_to_its_sources(team: Team) -> None:
    page = _client(team.member).get(reverse("workspace-detail", args=[team.workspace.pk]))
    assert reverse("sources", args=[team.workspace.pk]) in page.content.decode()


# --- The socket ---------------------------------------------------------------------------


@pytest.fixture
def cookies(team: Team) -> dict[str, bytes]:
    """Session cookies, made before the async tests start (they touch the database)."""
    return {
        name: session_cookie(user).encode()
        for name, user in (("alice", team.owner), ("bob", team.member), ("mallory", team.outsider))
    }


def _socket(team: Team, cookie: bytes | None) -> WebsocketCommunicator:
    headers = [HOST, ORIGIN] + ([(b"cookie", cookie)] if cookie else [])
    return WebsocketCommunicator(
        application, f"/ws/workspaces/{team.workspace.pk}/sources/", headers=headers
    )


async def _until(communicator: WebsocketCommunicator, text: str) -> str:
    while True:
        frame = await communicator.receive_from(timeout=10)
        if text in frame:
            return frame


async def test_members_see_a_source_appear_progress_and_become_ready(
    team: Team, sent_tasks: list, cookies: dict[str, bytes]
) -> None:
    alice = _socket(team, cookies["alice"])
    connected, _ = await alice.connect()
    assert connected
    first = await alice.receive_from(timeout=10)
    assert first.startswith('<tbody id="sources-body" hx-swap-oob="true">')

    client = await database_sync_to_async(_client)(team.member)
    await database_sync_to_async(_upload)(client, team, "spec.pdf", pdf_make(SPEC_PAGES))
    queued = await _until(alice, "Queued")
    assert queued.startswith('<tbody hx-swap-oob="afterbegin:#sources-body"><tr id="source-')
    assert "spec.pdf" in queued

    source = await database_sync_to_async(Source.objects.get)()
    await database_sync_to_async(source_ingest)(source_id=source.pk, generation=0)
    reading = await _until(alice, 'data-status="reading"')
    assert f'id="source-{source.pk}"' in reading
    assert "of 3 pages" in await _until(alice, "of 3 pages")
    indexing = await _until(alice, 'data-status="indexing"')
    assert "passages" in indexing
    ready = await _until(alice, 'data-status="ready"')
    assert "3 pages" in ready
    await alice.disconnect()


async def test_a_cancel_and_a_removal_reach_the_page(
    team: Team, sent_tasks: list, cookies: dict[str, bytes]
) -> None:
    source = await database_sync_to_async(Source.objects.create)(
        workspace=team.workspace, kind="url", title="Big page", url="http://example.com/"
    )
    bob = _socket(team, cookies["bob"])
    assert (await bob.connect())[0]
    assert "Big page" in await bob.receive_from(timeout=10)

    await database_sync_to_async(source_cancel)(source=source, by=team.owner)
    assert "Cancelled by alice." in await _until(bob, 'data-status="failed"')

    client = await database_sync_to_async(_client)(team.owner)
    await database_sync_to_async(client.post)(reverse("source-remove", args=[source.pk]))
    assert await _until(bob, "delete") == (
        f'<tr id="source-{source.pk}" hx-swap-oob="delete"></tr>'
    )
    await bob.disconnect()


@pytest.mark.parametrize(
    ("who", "code"), [("mallory", CLOSE_NOT_FOUND), (None, CLOSE_NOT_AUTHENTICATED)]
)
async def test_only_members_may_follow_the_sources(
    team: Team, cookies: dict[str, bytes], who: str | None, code: int
) -> None:
    communicator = _socket(team, cookies[who] if who else None)
    assert (await communicator.connect())[0]
    output = await communicator.receive_output(timeout=5)
    assert output["type"] == "websocket.close"
    assert output["code"] == code
    await communicator.disconnect()
