"""A person's notifications (mentions, answers and document writes that ended), what they
want to be notified of, and the devices their notifications are pushed to."""

import hashlib
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models


class Notification(models.Model):
    """Something that concerns ``recipient`` in a workspace, with where to see it."""

    class Kind(models.TextChoices):
        MENTION = "mention", "Mentioned"
        ANSWER = "answer", "Answer ended"
        DOCUMENT_WRITE = "document_write", "Document write ended"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    workspace = models.ForeignKey(
        "workspace.Workspace", on_delete=models.CASCADE, related_name="notifications"
    )
    target_url = models.CharField(
        max_length=300, help_text="Where it happened: a path on this site."
    )
    text = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread_idx")]

    def __str__(self) -> str:
        return f"{self.recipient}: {self.text}"


class NotificationSettings(models.Model):
    """What a person wants to be notified of; everything unless they chose otherwise."""

    class Level(models.TextChoices):
        ALL = "all", "Everything: mentions, and answers and document writes I asked for"
        MENTIONS = "mentions", "Mentions only"
        NONE = "none", "Nothing"

    person = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="notification_settings",
    )
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.ALL)

    class Meta:
        verbose_name_plural = "notification settings"

    def __str__(self) -> str:
        return f"{self.person}: {self.level}"

    def wants(self, kind: str) -> bool:
        if self.level == self.Level.ALL:
            return True
        return self.level == self.Level.MENTIONS and kind == Notification.Kind.MENTION


class PushSubscription(models.Model):
    """One browser's (one device's) Web Push subscription for a person's notifications from one
    workspace: where its push service takes messages for it, and the keys to encrypt them with.

    Made when the person turns push on for the workspace in that browser; removed when they turn
    it off, when they sign out of that browser, when the push service says it is gone (404, 410),
    and when they leave the workspace.
    """

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    workspace = models.ForeignKey(
        "workspace.Workspace", on_delete=models.CASCADE, related_name="push_subscriptions"
    )
    endpoint = models.URLField(max_length=1000, help_text="The push service's URL for the device.")
    p256dh = models.CharField(max_length=100, help_text="The browser's public key (base64url).")
    auth = models.CharField(max_length=50, help_text="The browser's auth secret (base64url).")
    device = models.CharField(max_length=200, blank=True, help_text="The browser, as it says.")
    session = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the sign-in session that turned it on: signing out of it ends it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "workspace", "endpoint"], name="push_subscription_once"
            )
        ]
        indexes = [
            models.Index(fields=["endpoint"], name="push_subscription_endpoint_idx"),
            models.Index(fields=["person", "session"], name="push_subscription_session_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.person} in {self.workspace}: {self.push_service}"

    @staticmethod
    def session_digest(session_key: str) -> str:
        return hashlib.sha256(session_key.encode()).hexdigest()

    @property
    def push_service(self) -> str:
        return urlsplit(self.endpoint).hostname or ""
