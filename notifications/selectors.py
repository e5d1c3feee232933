"""Reads of a person's notifications, always their own, and only of workspaces they are in."""

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import Http404

from .models import Notification, NotificationSettings, PushSubscription

INBOX_SHOWN = 50


def notification_list(*, person: User | AnonymousUser) -> QuerySet[Notification]:
    """The person's notifications, newest first. Leaving a workspace deletes its
    notifications; the membership filter also hides any that a removal left for a moment."""
    if not person.is_authenticated:
        return Notification.objects.none()
    return Notification.objects.filter(
        recipient=person, workspace__memberships__user=person
    ).select_related("workspace")


def notification_unread_count(*, person: User | AnonymousUser) -> int:
    return notification_list(person=person).filter(read_at__isnull=True).count()


def notification_get_for_recipient(
    *, person: User | AnonymousUser, notification_id: int
) -> Notification:
    """The person's notification; 404 alike for unknown ones and other people's."""
    try:
        return notification_list(person=person).get(pk=notification_id)
    except Notification.DoesNotExist as exc:
        raise Http404("No such notification.") from exc


def notification_settings_get(*, person: User) -> NotificationSettings:
    """The person's settings, the defaults (unsaved) if they never chose."""
    found = NotificationSettings.objects.filter(person=person).first()
    return found or NotificationSettings(person=person)


def notification_recipients(*, person_ids: list[int], workspace_id: int, kind: str) -> list[int]:
    """Of ``person_ids``, those who are members of the workspace now and want ``kind``."""
    members = list(
        User.objects.filter(
            pk__in=person_ids, memberships__workspace_id=workspace_id, is_active=True
        )
        .select_related("notification_settings")
        .order_by("pk")
    )
    return [m.pk for m in members if notification_settings_of(m).wants(kind)]


def notification_settings_of(person: User) -> NotificationSettings:
    """The settings of a person loaded with ``select_related("notification_settings")``."""
    try:
        return person.notification_settings
    except NotificationSettings.DoesNotExist:
        return NotificationSettings(person=person)


def push_subscribed_workspaces(*, person: User, endpoint: str) -> list[int]:
    """The workspaces whose notifications the person has pushed to the browser at
    ``endpoint``: only their own subscriptions, in workspaces they are in."""
    return sorted(
        PushSubscription.objects.filter(
            person=person, endpoint=endpoint, workspace__memberships__user=person
        ).values_list("workspace_id", flat=True)
    )
