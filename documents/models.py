"""Shared documents: one authoritative Yjs state per document, kept as a snapshot and a log.

The state is what the editors' CRDT (Yjs) says, never rebuilt from text: every change any
editor makes arrives as a Yjs update, is appended to the log as it is, and the housekeeping
task merges the log into the snapshot now and then (compaction), deriving the plain text that
search, knowledge and export read. The state is the snapshot plus every update still in the
log: compaction deletes exactly the updates it merged, and merging one twice changes nothing.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from workspace.models import Workspace


class DocumentQuerySet(models.QuerySet["Document"]):
    def live(self) -> "DocumentQuerySet":
        return self.filter(deleted_at__isnull=True)

    def deleted(self) -> "DocumentQuerySet":
        return self.filter(deleted_at__isnull=False)


class Document(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="documents")
    title = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(default=timezone.now, help_text="Last change of content.")
    deleted_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when deleted: restorable until purged."
    )
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    snapshot = models.BinaryField(
        default=b"", help_text="The Yjs state of every update merged so far (and deleted)."
    )
    snapshot_size = models.PositiveIntegerField(
        default=0, help_text="Bytes in the snapshot: checked on every change, never read whole."
    )
    text = models.TextField(blank=True, help_text="Plain text derived from the snapshot.")
    text_at = models.DateTimeField(null=True, blank=True, help_text="When text was derived.")

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return self.title


class DocumentUpdate(models.Model):
    """One Yjs update as an editor (or the assistant) sent it: the append-only log."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="updates")
    data = models.BinaryField()
    size = models.PositiveIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["document", "id"], name="document_update_log")]

    def __str__(self) -> str:
        return f"Update {self.pk} of {self.document_id} ({self.size} bytes)"


class DocumentVersion(models.Model):
    """The document as it was at one moment: named by a member, or taken automatically."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    name = models.CharField(max_length=200, blank=True, help_text="Empty for automatic versions.")
    state = models.BinaryField()
    text = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or f"Automatic version of {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_automatic(self) -> bool:
        return not self.name


class DocumentWrite(models.Model):
    """The assistant writing into a document at a member's request, live, as a co-author.

    Its text enters the document as CRDT edits while it is generated (each frame is an update
    in the log), so what was written is never lost: a stop or a crash ends the write, and the
    document keeps every word that reached it.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        WRITING = "writing", "Writing"
        DONE = "done", "Done"
        STOPPED = "stopped", "Stopped"
        INTERRUPTED = "interrupted", "Interrupted"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = (Status.QUEUED, Status.WRITING)

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="writes")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    instruction = models.TextField()
    anchor = models.JSONField(
        null=True, blank=True, help_text="Where to write: a Yjs relative position (JSON)."
    )
    head = models.JSONField(
        null=True, blank=True, help_text="With anchor, the selection to rewrite."
    )
    source_thread = models.ForeignKey(
        "chat.Thread",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="A thread the assistant drafts from.",
    )
    job = models.OneToOneField(
        "jobs.ModelJob",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="document_write",
        help_text="Its model job, whose lifecycle its status follows.",
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    written = models.TextField(blank=True, help_text="What the assistant wrote (saved ~1/s).")
    error = models.TextField(blank=True)
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Write into {self.document}: {self.instruction[:50]}"
