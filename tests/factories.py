from functools import cache

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from chat.models import Message, Thread
from chat.replies import reply_frame_send, reply_progress_record
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
    return Message.objects.create(
        thread=thread, role=Message.Role.ASSISTANT, status=status, in_reply_to=asked, **fields
    )


def frame_send(reply: Message, *, text: str, seq: int, delta: str) -> None:
    """Frame ``seq`` of a streaming reply, recorded and sent as the worker does (not saved)."""
    frame = reply_progress_record(reply=reply, text=text, seq=seq, persist=False)
    reply_frame_send(frame=frame, delta=delta)
