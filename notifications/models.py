"""A person's notifications (mentions, answers and document writes that ended) and what they
want to be notified of."""

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
