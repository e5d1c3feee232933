"""Factories for every model the tests (and the admin walk) create, and a few shortcuts."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import cache
from typing import Any, cast

import factory
import pycrdt
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.db import models
from django.utils import timezone

from chat.models import Assistant, Message, Thread
from chat.replies import reply_finish, reply_frame_send, reply_progress_record
from chat.services import ANSWER_KIND
from documents.crdt import TEXT_NAME, doc_from
from documents.models import Document, DocumentUpdate
from documents.selectors import document_state_get
from jobs.models import ModelJob
from jobs.services import job_start
from llm.models import LanguageModel
from notifications.models import Notification, NotificationSettings
from workspace.models import Membership, Workspace

PASSWORD = "correct horse battery staple"


@cache
def _password_hash() -> str:
    """Hash once: the real hasher is slow on purpose, and every user shares the password."""
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.LazyFunction(_password_hash)


class GroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Group
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Group {n}")


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Team {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.MEMBER


class ThreadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Thread

    workspace = factory.SubFactory(WorkspaceFactory)
    title = factory.Sequence(lambda n: f"Thread {n}")


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    thread = factory.SubFactory(ThreadFactory)
    author = factory.SubFactory(UserFactory)
    body = factory.Sequence(lambda n: f"Message {n}")


_JOB_STATUS_OF_ANSWER = {
    Message.Status.QUEUED: ModelJob.Status.QUEUED,
    Message.Status.STREAMING: ModelJob.Status.RUNNING,
    Message.Status.DONE: ModelJob.Status.DONE,
    Message.Status.STOPPED: ModelJob.Status.STOPPED,
    Message.Status.INTERRUPTED: ModelJob.Status.INTERRUPTED,
    Message.Status.FAILED: ModelJob.Status.FAILED,
}


def _answer_job(answer: Any) -> ModelJob:
    status = _JOB_STATUS_OF_ANSWER[Message.Status(answer.status)]
    running = status == ModelJob.Status.RUNNING
    return ModelJob.objects.create(
        kind=ANSWER_KIND,
        status=status,
        workspace_id=answer.thread.workspace_id,
        model_id=answer.assistant.model_id if answer.assistant is not None else None,
        requested_by=answer.requested_by,
        started_at=timezone.now() if running else None,
        heartbeat_at=timezone.now() if running else None,
    )


class AssistantMessageFactory(factory.django.DjangoModelFactory):
    """An answer of the assistant's, waiting to be generated unless told otherwise, with
    its model job in the same state (as ``assistant_reply_queue`` and the worker leave it)."""

    class Meta:
        model = Message

    thread = factory.SubFactory(ThreadFactory)
    role = Message.Role.ASSISTANT
    status = Message.Status.QUEUED
    assistant = None
    requested_by = None
    job = factory.LazyAttribute(_answer_job)


class LanguageModelFactory(factory.django.DjangoModelFactory):
    """A registered model whose file was never checked (so it is unavailable)."""

    class Meta:
        model = LanguageModel

    name = factory.Sequence(lambda n: f"Model {n}")
    path = factory.Sequence(lambda n: f"/models/model-{n}.gguf")


class AssistantFactory(factory.django.DjangoModelFactory):
    """A workspace's assistant, on a registered (unchecked) model unless told otherwise."""

    class Meta:
        model = Assistant

    workspace = factory.SubFactory(WorkspaceFactory)
    handle = factory.Sequence(lambda n: f"helper{n}")
    display_name = factory.LazyAttribute(lambda assistant: assistant.handle.title())
    model = factory.SubFactory(LanguageModelFactory)


class NotificationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    kind = Notification.Kind.MENTION
    workspace = factory.SubFactory(WorkspaceFactory)
    target_url = "/"
    text = "alice mentioned you"


class NotificationSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationSettings

    person = factory.SubFactory(UserFactory)


def factory_for(model: type[models.Model]) -> type[factory.django.DjangoModelFactory] | None:
    """The factory in this module that makes ``model``'s objects, if there is one."""
    factories = factory.django.DjangoModelFactory.__subclasses__()  # in the order defined
    return next((f for f in factories if f._meta.model is model), None)


# What a required field of each kind gets when no factory knows the model (first match wins).
FIELD_VALUES: list[tuple[type[models.Field], Callable[[], object]]] = [
    (models.EmailField, lambda: "someone@example.com"),
    (models.GenericIPAddressField, lambda: "127.0.0.1"),
    (models.CharField, lambda: "x"),
    (models.TextField, lambda: "x"),
    (models.BooleanField, lambda: False),
    (models.IntegerField, lambda: 1),
    (models.FloatField, lambda: 1.0),
    (models.DecimalField, lambda: Decimal(1)),
    (models.DateTimeField, timezone.now),
    (models.DateField, timezone.localdate),
    (models.DurationField, timedelta),
    (models.UUIDField, uuid.uuid4),
    (models.JSONField, dict),
    (models.BinaryField, bytes),  # an empty Yjs state is a valid, empty document
]


def object_create(model: type[models.Model]) -> models.Model:
    """One saved object of ``model``: by its factory, else with a plain value in each required
    field (related objects made the same way). Fails naming the field it cannot fill."""
    model_factory = factory_for(model)
    if model_factory is not None:
        made: models.Model = model_factory.create()
        return made
    values: dict[str, object] = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field.null or field.has_default() or _set_on_save(field):
            continue
        values[field.name] = _required_value(model, field)
    return model._default_manager.create(**values)


def _set_on_save(field: models.Field) -> bool:
    return bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False))


def _required_value(model: type[models.Model], field: models.Field) -> object:
    if field.choices:
        return field.choices[0][0]
    if field.is_relation and field.related_model not in (None, "self"):
        return object_create(cast(type[models.Model], field.related_model))
    for kind, value in FIELD_VALUES:
        if isinstance(field, kind):
            return value()
    raise TypeError(
        f"No factory for {model._meta.label} in tests/factories.py, and its required field "
        f"{field.name!r} ({type(field).__name__}) has no plain value: add a factory for it."
    )


LONG_ANSWER_PROMPT = (
    "@assistant write a detailed essay of at least 500 words about software release planning."
)


def assistant_reply(
    *,
    thread: Thread,
    asker: object,
    question: str = "@assistant name the release",
    status: str = Message.Status.QUEUED,
    **fields: object,
) -> Message:
    """A person's question and the assistant's reply to it, in ``status``."""
    asked: Message = MessageFactory.create(thread=thread, author=asker, body=question)
    return AssistantMessageFactory.create(
        thread=thread, status=status, in_reply_to=asked, requested_by=asker, **fields
    )


def answer_streaming(reply_id: int) -> Message:
    """The queued answer ``reply_id`` as a worker leaves it once started: its job running,
    the answer streaming (without a Generation: no model read anything)."""
    job_start(ModelJob.objects.get(answer__pk=reply_id))
    Message.objects.filter(pk=reply_id).update(status=Message.Status.STREAMING)
    return Message.objects.select_related("job").get(pk=reply_id)


def frame_send(reply: Message, *, text: str, seq: int, delta: str) -> None:
    """Frame ``seq`` of a streaming reply, recorded and sent as the worker does (not saved)."""
    frame = reply_progress_record(reply=reply, text=text, seq=seq)
    reply_frame_send(frame=frame, delta=delta)


def answer_finish(reply: Message, *, text: str, seq: int) -> None:
    """The streaming ``reply`` ends as the worker ends it: ``text`` after ``seq`` frames, one
    token a frame."""
    reply_finish(
        reply=reply,
        text=text,
        seq=seq,
        finish_reason="stop",
        figures={
            "prompt_tokens": 12,
            "completion_tokens": seq,
            "time_to_first_token_ms": 20.0,
            "tokens_per_second": 50.0,
        },
    )


def embed_stored_unchecked(document: Document) -> None:
    """An embed at the start of the document's text, written straight into its log, as the
    socket let editors do before it refused anything but text."""
    doc = doc_from(document_state_get(document_id=document.pk))
    before = doc.get_state()
    doc.get(TEXT_NAME, type=pycrdt.Text).insert_embed(0, {"image": "x.png"})
    DocumentUpdate.objects.create(document=document, data=doc.get_update(before), size=1)


def map_entries_stored_unchecked(document: Document) -> None:
    """A map entry under the text's name and a second top-level type, written straight into
    the document's log, as the socket let editors do before it refused anything but text."""
    state = document_state_get(document_id=document.pk)
    doc: pycrdt.Doc = pycrdt.Doc()
    doc.apply_update(state)
    before = doc.get_state()
    doc.get(TEXT_NAME, type=pycrdt.Map)["title"] = "hidden beside the text"
    doc.get("notes", type=pycrdt.Array).append("hidden at the top level")
    DocumentUpdate.objects.create(document=document, data=doc.get_update(before), size=1)


def table_rebuilt_on_sqlite(table: str) -> None:
    """What Django's altering ``table`` does on SQLite (a new table, copied, renamed): the old
    table's triggers are gone, the full-text indexes' among them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [table]
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f"DROP TRIGGER {name}")
