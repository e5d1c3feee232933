"""Reads about catch-ups, always on behalf of the person they are for."""

from django.contrib.auth.models import AnonymousUser, User
from django.http import Http404

from chat.models import Message, Thread

from .models import CatchUp

# The newest messages after a person's read mark that a summary may cover, at most: about a
# page of the thread, so that each one cited is on the page it links to.
MISSED_MAX = 50


def catch_up_get_for_requester(*, user: User | AnonymousUser, catch_up_id: int) -> CatchUp:
    """The catch-up, for the person who asked for it while they are a member of its thread's
    workspace; 404 alike for anyone else and for unknown ids."""
    if user.is_authenticated:
        catch_up = (
            CatchUp.objects.select_related("thread", "job")
            .filter(
                pk=catch_up_id,
                requested_by=user,
                thread__workspace__memberships__user=user,
            )
            .first()
        )
        if catch_up is not None:
            return catch_up
    raise Http404("No such catch-up.")


def catch_up_latest(*, thread: Thread, reader: User) -> CatchUp | None:
    """The newest catch-up ``reader`` asked for in ``thread`` (one indexed query)."""
    return (
        CatchUp.objects.select_related("thread", "job")
        .filter(requested_by=reader, thread=thread)
        .order_by("-id")
        .first()
    )


def missed_messages(*, thread: Thread, reader: User, after: int) -> list[Message]:
    """What ``reader`` missed in ``thread`` after message ``after``: its messages since then
    that have text and are not still being written, the newest ``MISSED_MAX``, oldest first.
    Empty when all of them are ``reader``'s own: there is nothing to catch up on."""
    newest = list(
        Message.objects.filter(thread=thread, pk__gt=after, deleted_at__isnull=True)
        .exclude(body="")
        .exclude(status__in=Message.ACTIVE_STATUSES)
        .select_related("author", "assistant")
        .order_by("-id")[:MISSED_MAX]
    )
    if all(message.author_id == reader.pk for message in newest):
        return []
    return newest[::-1]
