"""The workspace API: the browser's reads and writes over HTTP, with its checks and events."""

import pytest
from django.core.cache import cache
from pycrdt import Text

from api.services import api_token_create
from chat.models import Message
from chat.streaming_state import live_text_set
from documents import events as document_events
from documents.crdt import TEXT_NAME, doc_from
from documents.selectors import document_state_get, document_text_get
from documents.services import document_create, document_update_append
from harness.document_client import text_insert
from realtime.topics import document_topic
from tests.factories import MessageFactory, assistant_reply, embed_stored_unchecked
from workspace.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_rate_counters() -> None:
    cache.clear()


@pytest.fixture
def api(client, team):
    """bob's API client: a token of his, sent with every request."""
    _, secret = api_token_create(user=team.member, name="tests")

    class Api:
        def get(self, path, **extra):
            return client.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}", **extra)

        def send(self, method, path, data=None, *, raw=None, **extra):
            body = raw if raw is not None else data
            return getattr(client, method)(
                path,
                body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {secret}",
                **extra,
            )

        def post(self, path, data=None, **kwargs):
            return self.send("post", path, data, **kwargs)

    return Api()


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


# --- Reading ------------------------------------------------------------------------------


def test_threads_and_a_page_of_messages_oldest_first_with_the_way_back(api, team):
    messages = [MessageFactory.create(thread=team.thread, author=team.owner) for _ in range(5)]
    threads = api.get(f"/api/workspaces/{team.workspace.pk}/threads").json()
    assert [t["id"] for t in threads] == [team.thread.pk]

    newest = api.get(f"/api/threads/{team.thread.pk}/messages?limit=2").json()
    assert [m["id"] for m in newest["messages"]] == [messages[3].pk, messages[4].pk]
    assert newest["has_earlier"] is True
    earlier = api.get(
        f"/api/threads/{team.thread.pk}/messages?limit=2&before={newest['before']}"
    ).json()
    assert [m["id"] for m in earlier["messages"]] == [messages[1].pk, messages[2].pk]
    first = api.get(f"/api/threads/{team.thread.pk}/messages?limit=2&before={earlier['before']}")
    assert [m["id"] for m in first.json()["messages"]] == [messages[0].pk]
    assert first.json()["has_earlier"] is False
    assert first.json()["before"] is None


def test_a_page_larger_than_allowed_is_refused_saying_which_parameter(api, team):
    response = api.get(f"/api/threads/{team.thread.pk}/messages?limit=1000")
    assert response.status_code == 400
    assert "limit" in error_of(response)["param"]


def test_other_workspaces_threads_messages_and_documents_are_not_found(api, team):
    foreign = assistant_reply(thread=MessageFactory.create().thread, asker=team.outsider)
    document = document_create(
        workspace=foreign.thread.workspace, title="Secret", created_by=team.outsider
    )
    for path in (
        f"/api/workspaces/{foreign.thread.workspace_id}/threads",
        f"/api/threads/{foreign.thread_id}",
        f"/api/threads/{foreign.thread_id}/messages",
        f"/api/messages/{foreign.pk}",
        f"/api/documents/{document.pk}",
        "/api/threads/999999",
    ):
        response = api.get(path)
        assert response.status_code == 404, path
        assert error_of(response)["type"] == "not_found_error"
    assert api.post(f"/api/messages/{foreign.pk}/stop").status_code == 404
    assert Message.objects.get(pk=foreign.pk).status == Message.Status.QUEUED


def test_a_removed_member_loses_access_at_the_next_call(api, team):
    assert api.get(f"/api/threads/{team.thread.pk}").status_code == 200
    Membership.objects.filter(user=team.member).delete()
    assert api.get(f"/api/threads/{team.thread.pk}").status_code == 404


def test_a_streaming_answers_status_has_its_text_so_far(api, team):
    reply = assistant_reply(
        thread=team.thread,
        asker=team.owner,
        status=Message.Status.STREAMING,
        body="The",
        last_seq=1,
    )
    live_text_set(reply_id=reply.pk, seq=3, text="The release is")
    status = api.get(f"/api/messages/{reply.pk}").json()
    assert status["status"] == "streaming"
    assert status["body"] == "The release is"
    assert status["last_seq"] == 3


# --- Writing ------------------------------------------------------------------------------


def test_posting_a_mention_queues_the_answer_as_in_the_browser(
    api, team, sent_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            f"/api/threads/{team.thread.pk}/messages", {"body": "@assistant name the release"}
        )
    assert response.status_code == 201
    posted = response.json()
    assert posted["message"]["author"] == team.member.username
    [reply] = posted["replies"]
    assert reply["status"] == "queued"
    assert reply["in_reply_to_id"] == posted["message"]["id"]
    assert sent_tasks == [("llm.generate_reply", [reply["id"]])]


def test_a_message_without_a_mention_asks_nobody(api, team, sent_tasks):
    response = api.post(f"/api/threads/{team.thread.pk}/messages", {"body": "just a note"})
    assert response.status_code == 201
    assert response.json()["replies"] == []


def test_stop_and_retry(api, team, sent_tasks):
    reply = assistant_reply(thread=team.thread, asker=team.member)
    stopped = api.post(f"/api/messages/{reply.pk}/stop")
    assert stopped.status_code == 202
    assert stopped.json()["status"] == "stopped"
    assert stopped.json()["stop_reason"] == f"stopped by {team.member.username}"
    again = api.post(f"/api/messages/{reply.pk}/stop")
    assert again.status_code == 409
    assert error_of(again)["code"] == "already_ended"

    retried = api.post(f"/api/messages/{reply.pk}/retry")
    assert retried.status_code == 202
    assert retried.json()["status"] == "queued"
    assert retried.json()["id"] != reply.pk
    busy = api.post(f"/api/messages/{retried.json()['id']}/retry")
    assert busy.status_code == 409


def test_a_persons_message_cannot_be_stopped(api, team):
    message = MessageFactory.create(thread=team.thread, author=team.owner)
    response = api.post(f"/api/messages/{message.pk}/stop")
    assert response.status_code == 400
    assert error_of(response)["code"] == "not_an_answer"


def test_reading_and_replacing_a_documents_text_converges_with_open_editors(
    api, team, published, django_capture_on_commit_callbacks
):
    document = document_create(workspace=team.workspace, title="Plan", created_by=team.owner)
    base = doc_from()
    base_text = base.get(TEXT_NAME, type=Text)
    start = base.get_state()
    text_insert(base_text, 0, "Intro\nPlan A\nOutro\n")
    document_update_append(
        document_id=document.pk, update=base.get_update(start), author=team.owner, sender="t"
    )
    # alice's editor is open and she types while the script replaces the text.
    alice = doc_from(document_state_get(document_id=document.pk))
    alice_text = alice.get(TEXT_NAME, type=Text)
    before_typing = alice.get_state()
    text_insert(alice_text, 0, "Hello! ")
    alice_change = alice.get_update(before_typing)

    read = api.get(f"/api/documents/{document.pk}").json()
    assert read["text"] == "Intro\nPlan A\nOutro\n"
    assert read["can_edit"] is True
    with django_capture_on_commit_callbacks(execute=True):
        response = api.send(
            "put", f"/api/documents/{document.pk}/text", {"text": "Intro\nPlan B\nOutro\n"}
        )
    assert response.status_code == 200
    assert response.json()["text"] == "Intro\nPlan B\nOutro\n"
    [event] = published.of(document_events.Updated)
    assert event["topic"] == document_topic(document.pk)
    # alice's editor applies the change it was sent; the server gets her typing: both agree.
    alice.apply_update(event["update"])
    document_update_append(
        document_id=document.pk, update=alice_change, author=team.owner, sender="alice"
    )
    assert str(alice_text) == "Hello! Intro\nPlan B\nOutro\n"
    assert document_text_get(document_id=document.pk) == "Hello! Intro\nPlan B\nOutro\n"


def test_replacing_the_text_of_a_document_holding_an_embed_leaves_text_alone(api, team):
    document = document_create(workspace=team.workspace, title="Plan", created_by=team.owner)
    base = doc_from()
    start = base.get_state()
    text_insert(base.get(TEXT_NAME, type=Text), 0, "Früh\nPlan A\n")
    document_update_append(
        document_id=document.pk, update=base.get_update(start), author=team.owner, sender="t"
    )
    embed_stored_unchecked(document)  # from before embeds were refused

    response = api.send("put", f"/api/documents/{document.pk}/text", {"text": "Spät\nPlan A\n"})

    assert response.status_code == 200
    assert response.json()["text"] == "Spät\nPlan A\n"
    text = doc_from(document_state_get(document_id=document.pk)).get(TEXT_NAME, type=Text)
    assert text.diff() == [("Spät\nPlan A\n", None)]


def test_viewers_read_documents_but_cannot_replace_their_text(api, team):
    document = document_create(workspace=team.workspace, title="Plan", created_by=team.owner)
    Membership.objects.filter(user=team.member).update(role=Membership.Role.VIEWER)
    assert api.get(f"/api/documents/{document.pk}").json()["can_edit"] is False
    response = api.send("put", f"/api/documents/{document.pk}/text", {"text": "mine now"})
    assert response.status_code == 403
    assert error_of(response)["code"] == "viewer"
    assert document_text_get(document_id=document.pk) == ""


# --- Bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ('{"body": "hello"', "invalid_json"),
        ("[1, 2]", "invalid_json"),
        ("[" * 100_000, "invalid_json"),
        ('{"body": "hello", "colour": "red"}', "unknown_field"),
        ('{"body": 42}', "invalid"),
        ("{}", "invalid"),
    ],
)
def test_malformed_bodies_get_a_clear_error_and_post_nothing(api, team, raw, code):
    response = api.post(f"/api/threads/{team.thread.pk}/messages", raw=raw)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == code
    assert error["message"]
    assert not team.thread.messages.exists()


def test_an_unknown_field_is_named(api, team):
    response = api.post(
        f"/api/threads/{team.thread.pk}/messages", {"body": "hello", "colour": "red"}
    )
    assert error_of(response)["param"] == "body.colour"


def test_an_oversize_body_is_refused_before_it_is_read(api, team, settings):
    settings.API_MAX_BODY_BYTES = 1000
    response = api.post(f"/api/threads/{team.thread.pk}/messages", {"body": "x" * 2000})
    assert response.status_code == 413
    assert error_of(response)["code"] == "body_too_large"
    assert not team.thread.messages.exists()


def test_a_message_over_the_length_limit_is_refused(api, team, settings):
    response = api.post(
        f"/api/threads/{team.thread.pk}/messages", {"body": "x" * (settings.MESSAGE_MAX_LENGTH + 1)}
    )
    assert response.status_code == 400
    assert not team.thread.messages.exists()


def test_too_many_requests_are_refused_with_retry_after(api, team, settings):
    settings.API_RATE_LIMIT = 3
    statuses = [api.get("/api/workspaces").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = api.get("/api/workspaces")
    assert error_of(refused)["type"] == "rate_limit_error"
    assert 1 <= int(refused["Retry-After"]) <= settings.API_RATE_WINDOW_S


# --- The schema and the docs --------------------------------------------------------------


def test_the_openapi_schema_and_the_docs_are_served(client):
    schema = client.get("/api/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/threads/{thread_id}/messages" in paths
    assert "/api/documents/{document_id}/text" in paths
    assert schema.json()["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
