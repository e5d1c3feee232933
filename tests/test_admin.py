"""Staff can open every admin page of every registered model: list, search, add and change.

The models come from the admin's registry, so a model registered later is walked too. Its
objects come from its factory in ``tests/factories.py``, or, without one, are made with a plain
value in each required field; a model whose fields need more fails, naming what to add.
"""

import pytest
from django.contrib import admin
from django.db import models
from django.urls import reverse

from chat.models import Generation, Message

from .factories import AssistantMessageFactory, MessageFactory, object_create

pytestmark = pytest.mark.django_db

REGISTERED = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
MODEL_IDS = [model._meta.label for model, _ in REGISTERED]


def _url(model: type[models.Model], page: str, *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_the_changelist_lists_an_object_and_searches(admin_client, model, model_admin):
    object_create(model)

    response = admin_client.get(_url(model, "changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1
    if model_admin.search_fields:
        assert admin_client.get(_url(model, "changelist"), {"q": "x"}).status_code == 200


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_the_add_page_renders_where_adding_is_allowed(
    admin_client, admin_user, rf, model, model_admin
):
    request = rf.get("/admin/")
    request.user = admin_user
    expected = 200 if model_admin.has_add_permission(request) else 403

    assert admin_client.get(_url(model, "add")).status_code == expected


@pytest.mark.parametrize(("model", "model_admin"), REGISTERED, ids=MODEL_IDS)
def test_the_change_page_of_an_object_renders(admin_client, model, model_admin):
    obj = object_create(model)

    response = admin_client.get(_url(model, "change", obj.pk))

    assert response.status_code == 200
    assert response.context["original"] == obj


def test_staff_read_an_answer_but_cannot_rewrite_what_the_model_made(admin_client, team):
    answer = AssistantMessageFactory.create(
        thread=team.thread,
        status=Message.Status.DONE,
        body="Ship on Friday [1]",
        stop_reason="stop",
    )
    sources = [{"number": 1, "title": "Plan", "cited": True}]
    Generation.objects.create(message=answer, model_name="SmolLM2", sources=sources)
    url = _url(Message, "change", answer.pk)

    page = admin_client.get(url).content.decode()

    assert "Ship on Friday [1]" in page  # shown
    for field in ("body", "status", "stop_reason", "error", "generation-0-sources"):
        assert f'name="{field}"' not in page  # but not as a field to change
    admin_client.post(url, {"body": "Forged", "status": "failed", "generation-0-sources": "[]"})
    answer.refresh_from_db()
    assert (answer.body, answer.status) == ("Ship on Friday [1]", Message.Status.DONE)
    assert answer.generation.sources == sources


def test_staff_can_still_correct_a_persons_message(admin_client, team):
    message = MessageFactory.create(thread=team.thread, author=team.member, body="Typo")

    page = admin_client.get(_url(Message, "change", message.pk)).content.decode()

    assert 'name="body"' in page
