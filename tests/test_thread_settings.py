"""Per-thread settings: who answers unaddressed messages, and overrides of every answer's
instructions, temperature and length; every member sees them change, each answer records them."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from chat.answering import answer_brief
from chat.models import Message
from chat.replies import reply_retry
from chat.services import message_create, thread_settings_update
from config.asgi import application
from harness.ws_client import session_cookie

from .event_order import event_next
from .factories import AssistantFactory, assistant_reply
from .model_worker import reply_generate

pytestmark = pytest.mark.django_db

NO_OVERRIDES = {
    "system_prompt_override": "",
    "temperature_override": None,
    "max_tokens_override": None,
}


@pytest.fixture
def scribe(team):
    return AssistantFactory.create(
        workspace=team.workspace, handle="scribe", display_name="Scribe", temperature=0.9
    )


def _settings(thread, by, **changes):
    values = {"answers_unaddressed": False, "answerer": None, **NO_OVERRIDES, **changes}
    return thread_settings_update(thread=thread, by=by, **values)


def test_a_message_that_mentions_nobody_is_answered_by_the_threads_answerer(team, scribe):
    _settings(team.thread, team.owner, answers_unaddressed=True, answerer=scribe)

    question = message_create(thread=team.thread, author=team.member, body="What's next?")

    assert [reply.assistant for reply in Message.objects.filter(in_reply_to=question)] == [scribe]


def test_the_default_assistant_can_answer_unaddressed_messages(team):
    _settings(team.thread, team.owner, answers_unaddressed=True)

    question = message_create(thread=team.thread, author=team.member, body="What's next?")

    assert [reply.assistant for reply in Message.objects.filter(in_reply_to=question)] == [None]


@pytest.mark.parametrize("body", ["@bob what's next?", "@nobody-here what's next?"])
def test_a_message_addressed_to_someone_is_not_answered_by_the_threads_answerer(team, scribe, body):
    _settings(team.thread, team.owner, answers_unaddressed=True, answerer=scribe)

    question = message_create(thread=team.thread, author=team.member, body=body)

    assert not Message.objects.filter(in_reply_to=question).exists()


def test_by_default_unaddressed_messages_are_not_answered(team):
    question = message_create(thread=team.thread, author=team.member, body="What's next?")

    assert not Message.objects.filter(in_reply_to=question).exists()


def test_the_threads_overrides_reach_the_brief_and_name_themselves(team, scribe):
    _settings(
        team.thread,
        team.owner,
        system_prompt_override="You are {name}. Only say yes.",
        temperature_override=0.0,
    )
    reply = assistant_reply(thread=team.thread, asker=team.member, assistant=scribe)

    brief = answer_brief(reply)

    assert brief.system == "You are Scribe. Only say yes."
    assert brief.temperature == 0.0
    assert brief.max_tokens == scribe.max_tokens, "not overridden: the assistant's own"
    assert brief.thread_overrides == ["system_prompt", "temperature"]


def test_an_assistant_of_another_workspace_cannot_answer_here(team):
    stranger = AssistantFactory.create(handle="stranger")

    with pytest.raises(ValidationError, match="not in this thread's workspace"):
        _settings(team.thread, team.owner, answers_unaddressed=True, answerer=stranger)


def test_an_override_out_of_range_is_refused(team):
    with pytest.raises(ValidationError) as refused:
        _settings(team.thread, team.owner, temperature_override=3.0)

    assert "temperature_override" in refused.value.message_dict


def test_members_change_the_settings_from_the_thread_page(client, team, scribe):
    client.force_login(team.member)

    response = client.post(
        reverse("thread-settings", args=[team.thread.pk]),
        {"answerer": str(scribe.pk), "temperature_override": "0.3", "max_tokens_override": ""},
    )

    assert response.status_code == 200
    assert "Saved." in response.content.decode()
    team.thread.refresh_from_db()
    assert team.thread.answers_unaddressed
    assert team.thread.answerer == scribe
    assert team.thread.temperature_override == 0.3
    assert team.thread.max_tokens_override is None
    page = client.get(reverse("thread-detail", args=[team.thread.pk])).content.decode()
    assert "answered by <strong>@scribe</strong>" in page
    assert "temperature 0.3" in page


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("max_tokens_override", "0", "greater than or equal to 1"),
        ("max_tokens_override", "8193", "less than or equal to 8192"),
        ("temperature_override", "-0.5", "greater than or equal to 0"),
        ("temperature_override", "2.5", "less than or equal to 2"),
        ("temperature_override", "nan", "Enter a number"),
    ],
)
def test_a_bad_value_is_shown_on_the_form_and_nothing_changes(client, team, field, value, error):
    client.force_login(team.member)

    response = client.post(
        reverse("thread-settings", args=[team.thread.pk]),
        {"answerer": "", "system_prompt_override": "Be brief.", field: value},
    )

    assert response.status_code == 200
    assert error in response.content.decode()
    assert "Saved." not in response.content.decode()
    team.thread.refresh_from_db()
    assert (team.thread.temperature_override, team.thread.max_tokens_override) == (None, None)
    assert team.thread.system_prompt_override == "", "nothing of the form is saved"


def test_the_form_is_read_again_as_the_settings_now_are(client, team, scribe):
    _settings(team.thread, team.owner, answers_unaddressed=True, answerer=scribe)
    client.force_login(team.member)

    response = client.get(reverse("thread-settings", args=[team.thread.pk]))

    assert response.status_code == 200
    assert f'<option value="{scribe.pk}" selected>' in response.content.decode()


def test_non_members_cannot_see_or_change_a_threads_settings(client, team):
    client.force_login(team.outsider)
    url = reverse("thread-settings", args=[team.thread.pk])

    assert client.post(url, {"answerer": ""}).status_code == 404
    assert client.get(url).status_code == 404


@pytest.mark.django_db(transaction=True)
async def test_every_member_sees_the_settings_change_live(team, scribe):
    cookie = await database_sync_to_async(session_cookie)(team.member)
    bob = WebsocketCommunicator(
        application,
        f"/ws/threads/{team.thread.pk}/",
        headers=[
            (b"host", b"localhost"),
            (b"origin", b"http://localhost"),
            (b"cookie", cookie.encode()),
        ],
    )
    connected, _ = await bob.connect()
    assert connected
    await bob.receive_from(timeout=5)  # the transcript

    await database_sync_to_async(_settings)(
        team.thread, team.owner, answers_unaddressed=True, answerer=scribe, max_tokens_override=50
    )

    shown = await event_next(bob)
    assert 'id="thread-settings-summary"' in shown
    assert 'hx-swap-oob="outerHTML"' in shown
    assert "answered by <strong>@scribe</strong>" in shown
    assert "at most 50 tokens" in shown
    assert "changed by alice" in shown
    await bob.disconnect()


# --- With the real model ----------------------------------------------------------------


@pytest.mark.model
def test_the_threads_settings_reach_the_sampler_and_are_recorded_on_each_answer(team):
    _settings(
        team.thread,
        team.owner,
        system_prompt_override="You are {name}. Answer with one word.",
        temperature_override=0.0,
        max_tokens_override=6,
    )
    first = assistant_reply(thread=team.thread, asker=team.member, question="@assistant hi")
    reply_generate(reply_id=first.pk)
    first.refresh_from_db()
    again = reply_retry(reply=first, by=team.member)
    reply_generate(reply_id=again.pk)
    again.refresh_from_db()

    assert first.status == again.status == Message.Status.DONE
    assert first.body == again.body, "temperature 0 gives the same answer twice"
    for answer in (first, again):
        run = answer.generation
        assert 0 < (run.completion_tokens or 0) <= 6
        assert run.parameters["temperature"] == 0.0
        assert run.parameters["max_tokens"] == 6
        assert run.system_prompt == "You are assistant. Answer with one word."
        assert run.thread_overrides == ["max_tokens", "system_prompt", "temperature"]
        assert run.assistant is None
        assert run.assistant_handle == "assistant"


def test_changing_settings_or_assistants_needs_the_csrf_token(team, scribe):
    client = Client(enforce_csrf_checks=True)
    client.force_login(team.member)

    for url in (
        reverse("thread-settings", args=[team.thread.pk]),
        reverse("assistant-create", args=[team.workspace.pk]),
        reverse("assistant-edit", args=[scribe.pk]),
        reverse("handle-suggestions", args=[team.thread.pk]),
    ):
        assert client.post(url, {"answerer": ""}).status_code == 403, url
