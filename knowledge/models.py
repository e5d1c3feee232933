"""The workspace's knowledge: sources (files, web pages, documents) and their passages.

A source is read and indexed in the background (``knowledge.ingest`` on the ``ingest`` queue).
Its passages (chunks) are replaced all at once when an ingestion succeeds, so retrieval always
sees one whole version of a source. Each chunk carries its embedding with the model's name and
dimension: vectors of another model are never compared with the current one's, and are
re-embedded in the background when the model changes.
"""

from django.conf import settings
from django.db import models

from documents.models import Document
from workspace.models import Workspace


class Source(models.Model):
    class Kind(models.TextChoices):
        FILE = "file", "File"
        URL = "url", "Web address"
        DOCUMENT = "document", "Shared document"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        READING = "reading", "Reading"
        INDEXING = "indexing", "Indexing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = (Status.QUEUED, Status.READING, Status.INDEXING)

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="sources")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = models.CharField(max_length=300)
    url = models.URLField(max_length=2000, blank=True, help_text="For a web address.")
    document = models.OneToOneField(
        Document,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="source",
        help_text="For a shared document.",
    )
    file_name = models.CharField(max_length=300, blank=True)
    content_type = models.CharField(max_length=200, blank=True)
    data = models.BinaryField(
        blank=True, default=b"", editable=False, help_text="An uploaded file, as uploaded."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True, help_text="Why it failed, worded for members.")
    refused = models.BooleanField(
        default=False,
        help_text="Its address was refused (FetchRefused): only another address can help.",
    )
    notes = models.TextField(blank=True, help_text="What a member should know (skipped pages).")
    size = models.PositiveBigIntegerField(default=0, help_text="Bytes read.")
    pages = models.PositiveIntegerField(null=True, blank=True)
    rows = models.PositiveIntegerField(null=True, blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    waiting_for_answers = models.BooleanField(
        default=False,
        help_text="Paused while the models answer (KNOWLEDGE_YIELD_TO_MODEL_JOBS).",
    )
    generation = models.PositiveIntegerField(
        default=0, help_text="Bumped by each re-index or cancel: older runs stop."
    )
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of its ingestion (queued or running)."
    )
    indexed_at = models.DateTimeField(null=True, blank=True)
    document_text_at = models.DateTimeField(
        null=True, blank=True, help_text="The document's text as of this time was indexed."
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class Chunk(models.Model):
    """One passage of a source: what retrieval finds and an answer cites."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="chunks")
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="+", help_text="The source's."
    )
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    locator = models.JSONField(help_text='Where it is: {"page": [3, 4]}, {"rows": [2, 41]}...')
    embedding = models.BinaryField(null=True, blank=True, help_text="float32 vector.")
    embedding_model = models.CharField(max_length=200, blank=True)
    dimension = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["source", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["source", "ordinal"], name="unique_chunk_ordinal")
        ]
        indexes = [
            models.Index(fields=["workspace", "embedding_model"], name="chunk_vectors"),
        ]

    def __str__(self) -> str:
        return f"{self.source} #{self.ordinal}"


class PassagesVersion(models.Model):
    """A workspace's passages' version, bumped in the transaction of every change to them
    (``services``): a process's cached vectors of the workspace are current while the version
    they were loaded at is, which one primary-key lookup tells, at any number of passages."""

    workspace = models.OneToOneField(
        Workspace, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    version = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.workspace_id}: {self.version}"
