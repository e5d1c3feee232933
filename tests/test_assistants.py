"""Assistants of a workspace: each answers to its handle, with its own model and instructions;
the installation's default assistant keeps answering @assistant."""

import json
import re

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.exceptions import ValidationError
from django.urls import reverse

from assistant.answers import inference_request
from chat.answering import answer_brief
from chat.message_read import MessageRead
from chat.models import Assistant, Generation, Message
from chat.rendering import message_html
from chat.replies import reply_retry
from chat.selectors import mentions_resolve, mentions_unknown_hint, message_read
from chat.services import assistant_create, assistant_update, message_create
from config.asgi import application
from harness.ws_client import session_cookie
from llm.models import LanguageModel
from llm.services import models_register_bundled

from .factories import AssistantFactory, LanguageModelFactory, MessageFactory, assistant_reply
from .model_worker import reply_generate

pytestmark = pytest.mark.django_db


@pytest.fixture
def scribe(team):
    return AssistantFactory.create(
        workspace=team.workspace,
        handle="scribe",
        display_name="Scribe",
        colour="#0088cc",
        system_prompt="You are {name}. Take notes.",
        temperature=0.2,
        max_tokens=64,
    )


def _fields(**changes):
    fields = {
        "handle": "critic",
        "display_name": "Critic",
        "colour": "#aa0000",
        "model": LanguageModelFactory.create(),
        "system_prompt": "",
        "temperature": 0.5,
        "max_tokens": 100,
    }
    return {**fields, **changes}


def test_a_member_adds_an_assistant_whose_handle_is_kept_lowercase(team):
    critic = assistant_create(
        workspace=team.workspace, created_by=team.member, **_fields(handle="Critic")
    )

    assert critic.handle == "critic"
    assert critic.created_by == team.member


@pytest.mark.parametrize(
    ("handle", "error"),
    [
        ("assistant", "@assistant is the installation's default assistant."),
        ("bob", "@bob is a member of this workspace."),
        ("scribe", "@scribe is taken by another assistant here."),
        ("2fast", "starting with a letter"),
        ("has space", "starting with a letter"),
    ],
)
def test_a_handle_that_would_name_someone_else_or_is_malformed_is_refused(
    team, scribe, handle, error
):
    with pytest.raises(ValidationError) as refused:
        assistant_create(workspace=team.workspace, created_by=team.owner, **_fields(handle=handle))

    assert error in " ".join(refused.value.message_dict["handle"])


def test_the_same_handle_may_serve_in_another_workspace(team, scribe):
    elsewhere = AssistantFactory.create(handle="scribe")

    assert elsewhere.workspace != team.workspace


def test_an_assistant_keeps_its_handle_when_edited(team, scribe):
    assistant_update(assistant=scribe, **_fields(handle="scribe", temperature=1.1))

    scribe.refresh_from_db()
    assert scribe.temperature == 1.1


def test_mentioning_an_assistant_queues_its_answer(
    team, scribe, sent_tasks, broadcasts, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        question = message_create(thread=team.thread, author=team.member, body="@Scribe, notes?")

    reply = Message.objects.get(in_reply_to=question)
    assert reply.assistant == scribe
    assert reply.speaker_name == "Scribe"
    assert sent_tasks == [("llm.generate_reply", [reply.pk])]


def test_the_default_assistant_still_answers_at_assistant(team, scribe, sent_tasks):
    question = message_create(thread=team.thread, author=team.member, body="@assistant hi")

    reply = Message.objects.get(in_reply_to=question)
    assert reply.assistant is None
    assert reply.speaker_name == "assistant"


def test_each_assistant_mentioned_answers_in_the_order_mentioned(team, scribe, sent_tasks):
    question = message_create(
        thread=team.thread, author=team.member, body="@scribe and @assistant: and @scribe again"
    )

    replies = Message.objects.filter(in_reply_to=question).order_by("id")
    assert [reply.assistant for reply in replies] == [scribe, None]


def test_an_unknown_handle_gets_a_hint_naming_the_assistants_here(team, scribe):
    mentions = mentions_resolve(workspace=team.workspace, body="@scrib and @bob, thoughts?")

    assert mentions.members == ["bob"]
    assert mentions_unknown_hint(workspace=team.workspace, mentions=mentions) == (
        "Nobody here answers to @scrib. The assistants here are @assistant, @scribe."
    )


def test_a_member_whose_username_goes_on_past_a_handle_is_no_unknown_mention(team):
    team.member.username = "bob.smith"
    team.member.save()

    mentions = mentions_resolve(workspace=team.workspace, body="thanks @bob.smith.")

    assert mentions.members == ["bob.smith"]
    assert mentions.unknown == []


def test_an_assistants_answer_is_briefed_with_its_own_instructions_and_model(team, scribe):
    reply = assistant_reply(thread=team.thread, asker=team.member, assistant=scribe)

    brief = answer_brief(reply)

    assert brief.system == "You are Scribe. Take notes."
    assert brief.temperature == 0.2
    assert brief.max_tokens == 64
    assert brief.model_id == scribe.model_id
    assert brief.assistant_name == "Scribe"


def test_an_assistant_reads_the_others_answers_under_their_names(team, scribe):
    asked = MessageFactory.create(thread=team.thread, author=team.owner, body="@assistant hi")
    assistant_reply(
        thread=team.thread, asker=team.owner, status=Message.Status.DONE, body="Hello from me"
    )
    MessageFactory.create(thread=team.thread, author=team.owner, body="@scribe notes so far?")
    earlier_own = assistant_reply(
        thread=team.thread, asker=team.owner, status="done", body="Noted.", assistant=scribe
    )
    reply = assistant_reply(thread=team.thread, asker=team.owner, assistant=scribe)

    turns = inference_request(answer_brief(reply)).turns

    by_text = {turn.text: turn for turn in turns}
    assert by_text["Hello from me"].speaker == "assistant"
    assert not by_text["Hello from me"].is_assistant, "another assistant speaks as a participant"
    assert by_text["Noted."].is_assistant, "its own answers are its turns"
    assert asked.body in by_text
    assert earlier_own.body in by_text


def test_an_answer_shows_its_assistants_name_handle_and_colour_live(team, scribe):
    reply = assistant_reply(thread=team.thread, asker=team.owner, assistant=scribe)

    html = message_html(MessageRead.from_data(message_read(reply).to_data()))

    assert '<strong class="speaker">Scribe</strong>' in html
    assert "@scribe" in html
    assert 'fill="#0088cc"' in html


def test_an_unavailable_model_fails_its_answers_clearly_and_the_admin_sees_why(
    team, scribe, tmp_path
):
    scribe.model.path = str(tmp_path / "gone.gguf")
    scribe.model.save()
    reply = assistant_reply(thread=team.thread, asker=team.owner, assistant=scribe)

    reply_generate(reply_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED
    assert reply.error == (
        f"The model {scribe.model.name} is unavailable; an admin can see why on its page in "
        "the admin (Language models)."
    )
    model = LanguageModel.objects.get(pk=scribe.model_id)
    assert not model.available
    assert f"No file at {tmp_path / 'gone.gguf'}" in model.unavailable_reason


# --- The workspace's pages ---------------------------------------------------------------


def test_members_add_an_assistant_from_the_workspace_page(client, team):
    model = LanguageModelFactory.create(name="Gemma")
    client.force_login(team.member)

    response = client.post(
        reverse("assistant-create", args=[team.workspace.pk]),
        {**_fields(model=model.pk), "handle": "reviewer", "display_name": "Reviewer"},
    )

    assert response.status_code == 302
    page = client.get(reverse("workspace-detail", args=[team.workspace.pk])).content.decode()
    assert "@reviewer" in page
    assert Assistant.objects.get(handle="reviewer").model == model


def test_a_clashing_handle_is_shown_on_the_form(client, team):
    client.force_login(team.member)

    response = client.post(
        reverse("assistant-create", args=[team.workspace.pk]),
        {**_fields(model=LanguageModelFactory.create().pk), "handle": "alice"},
    )

    assert response.status_code == 200
    assert "@alice is a member of this workspace." in response.content.decode()
    assert not Assistant.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("temperature", "2.5", "less than or equal to 2"),
        ("temperature", "-1", "greater than or equal to 0"),
        ("temperature", "inf", "Enter a number"),
        ("max_tokens", "0", "greater than or equal to 1"),
        ("max_tokens", "100000", "less than or equal to 8192"),
    ],
)
def test_sampler_settings_out_of_range_are_shown_on_the_form_and_nothing_is_saved(
    client, team, scribe, field, value, error
):
    client.force_login(team.member)
    fields = {**_fields(model=scribe.model.pk), field: value}

    added = client.post(reverse("assistant-create", args=[team.workspace.pk]), fields)
    edited = client.post(
        reverse("assistant-edit", args=[scribe.pk]),
        {**fields, "handle": "scribe", "display_name": "Note taker"},
    )

    for response in (added, edited):
        assert response.status_code == 200
        assert error in response.content.decode()
    assert list(Assistant.objects.values_list("handle", flat=True)) == ["scribe"]
    scribe.refresh_from_db()
    assert (scribe.display_name, scribe.temperature, scribe.max_tokens) == ("Scribe", 0.2, 64)


@pytest.mark.parametrize(("field", "value"), [("temperature", 2.5), ("max_tokens", 0)])
def test_the_services_refuse_sampler_settings_out_of_range(team, scribe, field, value):
    with pytest.raises(ValidationError) as refused:
        assistant_create(
            workspace=team.workspace, created_by=team.member, **_fields(**{field: value})
        )
    assert field in refused.value.message_dict
    with pytest.raises(ValidationError):
        assistant_update(assistant=scribe, **_fields(handle="scribe", **{field: value}))
    assert list(Assistant.objects.values_list("handle", flat=True)) == ["scribe"]
    scribe.refresh_from_db()
    assert (scribe.temperature, scribe.max_tokens) == (0.2, 64)


def test_the_admin_refuses_sampler_settings_out_of_range(admin_client, team):
    model = LanguageModelFactory.create()
    fields = {
        "workspace": team.workspace.pk,
        "handle": "critic",
        "display_name": "Critic",
        "colour": "#aa0000",
        "model": model.pk,
        "system_prompt": "",
        "temperature": "3",
        "max_tokens": "0",
    }

    response = admin_client.post(reverse("admin:chat_assistant_add"), fields)

    assert response.status_code == 200
    page = response.content.decode()
    assert "less than or equal to 2" in page
    assert "greater than or equal to 1" in page
    assert not Assistant.objects.exists()
    accepted = admin_client.post(
        reverse("admin:chat_assistant_add"), {**fields, "temperature": "2", "max_tokens": "1"}
    )
    assert accepted.status_code == 302, "the same form with values in range is saved"


def test_members_edit_an_assistant(client, team, scribe):
    client.force_login(team.owner)

    response = client.post(
        reverse("assistant-edit", args=[scribe.pk]),
        {**_fields(model=scribe.model.pk), "handle": "scribe", "display_name": "Note taker"},
    )

    assert response.status_code == 302
    scribe.refresh_from_db()
    assert scribe.display_name == "Note taker"


def test_non_members_get_404_for_assistants_pages(client, team, scribe):
    client.force_login(team.outsider)

    assert client.get(reverse("assistant-create", args=[team.workspace.pk])).status_code == 404
    assert client.get(reverse("assistant-edit", args=[scribe.pk])).status_code == 404
    handles = reverse("handle-suggestions", args=[team.thread.pk])
    assert client.post(handles, {"body": "@"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        ("ask @s", ["scribe"]),
        ("ask @", ["assistant", "scribe", "alice", "bob"]),
        ("ask @B", ["bob"]),
        ("no mention being typed", []),
        ("mail me@s", []),
    ],
)
def test_the_composer_suggests_handles_as_you_type_at(client, team, scribe, body, shown):
    client.force_login(team.member)

    response = client.post(reverse("handle-suggestions", args=[team.thread.pk]), {"body": body})

    assert re.findall(r'data-handle="([^"]+)"', response.content.decode()) == shown


@pytest.mark.django_db(transaction=True)
async def test_the_sender_of_an_unknown_handle_is_told_who_answers_here(team, scribe):
    cookie = await database_sync_to_async(session_cookie)(team.member)
    sender = WebsocketCommunicator(
        application,
        f"/ws/threads/{team.thread.pk}/",
        headers=[
            (b"host", b"localhost"),
            (b"origin", b"http://localhost"),
            (b"cookie", cookie.encode()),
        ],
    )
    connected, _ = await sender.connect()
    assert connected
    await sender.receive_from(timeout=5)  # the transcript

    await sender.send_to(text_data=json.dumps({"body": "@scrib can you take notes?"}))

    received = ""
    while 'id="composer-body"' not in received:
        received = await sender.receive_from(timeout=5)
    assert "Nobody here answers to @scrib. The assistants here are @assistant, @scribe." in (
        received
    )
    await sender.disconnect()


# --- With the real models ---------------------------------------------------------------


@pytest.mark.model
def test_two_assistants_on_two_models_answer_one_message_each_recording_what_produced_it(team):
    registered = {model.name: model for model in models_register_bundled()}
    if "Gemma-3-270M" not in registered:
        pytest.skip("Gemma 3 270M is not installed (requirements-model.txt)")
    scribe = AssistantFactory.create(
        workspace=team.workspace,
        handle="scribe",
        display_name="Scribe",
        model=registered["SmolLM2-135M-Instruct"],
        system_prompt="You are {name}. Answer in one short sentence.",
        temperature=0.0,
        max_tokens=8,
    )
    critic = AssistantFactory.create(
        workspace=team.workspace,
        handle="critic",
        display_name="Critic",
        model=registered["Gemma-3-270M"],
        temperature=0.0,
        max_tokens=8,
    )
    question = message_create(thread=team.thread, author=team.member, body="@scribe @critic hi")

    for reply in Message.objects.filter(in_reply_to=question):
        reply_generate(reply_id=reply.pk)

    runs = {
        run.assistant_handle: run
        for run in Generation.objects.filter(message__in_reply_to=question).select_related(
            "message"
        )
    }
    assert {handle: run.message.status for handle, run in runs.items()} == {
        "scribe": "done",
        "critic": "done",
    }
    assert runs["scribe"].model_name == "SmolLM2-135M-Instruct"
    assert runs["scribe"].assistant == scribe
    assert runs["scribe"].system_prompt == "You are Scribe. Answer in one short sentence."
    assert runs["critic"].model_name == "Gemma-3-270M"
    assert runs["critic"].assistant_handle == "critic"
    for run in runs.values():
        assert run.parameters["temperature"] == 0.0
        assert run.parameters["max_tokens"] == 8
        assert 0 < (run.completion_tokens or 0) <= 8
        assert run.message.body.strip()
    assert critic.model.has_chat_template is False


def test_a_retry_is_answered_by_the_same_assistant(team, scribe):
    ended = assistant_reply(
        thread=team.thread, asker=team.owner, assistant=scribe, status="done", body="Noted."
    )

    again = reply_retry(reply=ended, by=team.member)

    assert again.assistant == scribe
    assert again.in_reply_to == ended.in_reply_to


def test_polling_clients_see_which_assistant_wrote_an_answer(client, team, scribe):
    reply = assistant_reply(thread=team.thread, asker=team.owner, assistant=scribe)
    client.force_login(team.member)

    data = client.get(reverse("message-status", args=[reply.pk])).json()

    assert data["author"] == "Scribe"
    assert data["assistant"] == {"id": scribe.pk, "handle": "scribe", "colour": scribe.colour}
