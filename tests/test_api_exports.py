"""Exports: a thread as Markdown and JSON, a document as Markdown, from the page and the API."""

import json

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from api.services import api_token_create
from chat.models import Generation, Message
from documents.crdt import text_replace_update
from documents.selectors import document_state_get
from documents.services import document_create, document_update_append
from tests.factories import MessageFactory, assistant_reply

pytestmark = pytest.mark.django_db

SOURCE = {
    "number": 1,
    "source_id": 3,
    "chunk_id": 30,
    "title": "Release notes",
    "locator": "page 2",
    "url": "/sources/3/",
    "cited": True,
}


@pytest.fixture(autouse=True)
def fresh_rate_counters() -> None:
    cache.clear()


@pytest.fixture
def answered(team) -> Message:
    """alice asked; the assistant answered, citing a source, with its figures."""
    reply = assistant_reply(
        thread=team.thread,
        asker=team.owner,
        question="@assistant when do we ship?",
        status=Message.Status.DONE,
        body="In May [1].",
        stop_reason="stop",
        finished_at=timezone.now(),
    )
    Generation.objects.create(
        message=reply,
        model_name="SmolLM2",
        sources=[SOURCE],
        prompt_tokens=40,
        completion_tokens=5,
        time_to_first_token_ms=120.0,
        tokens_per_second=31.5,
    )
    return reply


def test_a_thread_as_markdown_names_authors_times_figures_and_sources(client, team, answered):
    client.force_login(team.member)
    response = client.get(reverse("thread-export", args=[team.thread.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert 'filename="Release planning.md"' in response["Content-Disposition"]
    text = response.content.decode()
    assert text.startswith("# Release planning\n")
    assert "## alice · " in text
    assert "@assistant when do we ship?" in text
    assert "## assistant · " in text
    assert "*SmolLM2 · 5 tokens · 31.5 tokens/s · first token 120 ms*" in text
    assert "In May [1]." in text
    assert "- [1] Release notes, page 2" in text
    assert text.index("when do we ship") < text.index("In May")


def test_the_markdown_marks_which_sources_the_answer_cited(client, team, answered):
    uncited = {**SOURCE, "number": 2, "chunk_id": 31, "title": "Office Wi-Fi", "locator": ""}
    Generation.objects.filter(message=answered).update(
        sources=[SOURCE, {**uncited, "cited": False}]
    )
    client.force_login(team.member)
    text = client.get(reverse("thread-export", args=[team.thread.pk])).content.decode()
    assert "- [1] Release notes, page 2 (cited)\n" in text
    assert "- [2] Office Wi-Fi (not cited)\n" in text


def test_an_answer_still_being_written_has_no_cited_marks_yet(client, team, answered):
    Message.objects.filter(pk=answered.pk).update(status=Message.Status.STREAMING)
    client.force_login(team.member)
    text = client.get(reverse("thread-export", args=[team.thread.pk])).content.decode()
    assert "- [1] Release notes, page 2\n" in text


def test_a_thread_as_json_has_every_message_with_its_statistics_and_sources(client, team, answered):
    for n in range(250):  # more than one batch
        MessageFactory.create(thread=team.thread, author=team.member, body=f"note {n}")
    client.force_login(team.member)
    response = client.get(reverse("thread-export", args=[team.thread.pk]) + "?format=json")
    data = json.loads(response.content)
    assert data["thread"]["title"] == "Release planning"
    assert len(data["messages"]) == 252
    answer = data["messages"][1]
    assert answer["statistics"]["completion_tokens"] == 5
    assert answer["sources"] == [SOURCE]
    assert [m["id"] for m in data["messages"]] == sorted(m["id"] for m in data["messages"])


def test_a_deleted_message_is_exported_as_a_tombstone(client, team):
    MessageFactory.create(thread=team.thread, author=team.owner, body="", deleted_at=timezone.now())
    client.force_login(team.member)
    text = client.get(reverse("thread-export", args=[team.thread.pk])).content.decode()
    assert "*(deleted)*" in text


def test_a_document_as_markdown_from_the_page(client, team):
    document = document_create(workspace=team.workspace, title="Launch plan", created_by=team.owner)
    update = text_replace_update(document_state_get(document_id=document.pk), "- ship in May\n")
    document_update_append(document_id=document.pk, update=update, author=team.owner, sender="t")
    client.force_login(team.member)
    exported = client.get(reverse("document-export", args=[document.pk]))
    assert 'filename="Launch plan.md"' in exported["Content-Disposition"]
    assert exported.content.decode() == "# Launch plan\n\n- ship in May\n"


def test_outsiders_get_404_for_exports(client, team, answered):
    document = document_create(workspace=team.workspace, title="Plan", created_by=team.owner)
    client.force_login(team.outsider)
    assert client.get(reverse("thread-export", args=[team.thread.pk])).status_code == 404
    assert client.get(reverse("document-export", args=[document.pk])).status_code == 404


def test_the_api_exports_threads_and_documents(client, team, answered):
    _, secret = api_token_create(user=team.member, name="export", read_only=True)
    headers = {"Authorization": f"Bearer {secret}"}
    markdown = client.get(f"/api/threads/{team.thread.pk}/export", headers=headers)
    assert markdown["Content-Type"].startswith("text/markdown")
    assert "In May [1]." in markdown.content.decode()
    as_json = client.get(f"/api/threads/{team.thread.pk}/export?format=json", headers=headers)
    assert len(json.loads(as_json.content)["messages"]) == 2
    bad = client.get(f"/api/threads/{team.thread.pk}/export?format=pdf", headers=headers)
    assert bad.status_code == 400
    document = document_create(workspace=team.workspace, title="Plan", created_by=team.owner)
    doc = client.get(f"/api/documents/{document.pk}/export", headers=headers)
    assert doc.content.decode().startswith("# Plan\n")


def test_the_pages_link_to_their_exports(client, team):
    document = document_create(workspace=team.workspace, title="Plan", created_by=team.owner)
    client.force_login(team.member)
    thread_page = client.get(reverse("thread-detail", args=[team.thread.pk])).content.decode()
    assert reverse("thread-export", args=[team.thread.pk]) in thread_page
    document_page = client.get(reverse("document-detail", args=[document.pk])).content.decode()
    assert reverse("document-export", args=[document.pk]) in document_page
