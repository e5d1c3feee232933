"""Threads and the messages in them, written by people or by the assistant."""

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models

from workspace.models import Workspace


class ThreadQuerySet(models.QuerySet["Thread"]):
    def revision_take(self, thread_id: int) -> int:
        """The thread's next revision number, for a message changing in this transaction.

        The update locks the thread's row until the transaction ends, so the changes of one
        thread commit in the order of their numbers: a client that saw revision N has seen
        every change numbered up to N that it was sent.
        """
        self.filter(pk=thread_id).update(revision=models.F("revision") + 1)
        return int(self.filter(pk=thread_id).values_list("revision", flat=True).get())


class Thread(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="threads")
    title = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revision = models.PositiveBigIntegerField(
        default=0, help_text="Number of the thread's latest change to a message."
    )

    objects = ThreadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "User"
        ASSISTANT = "assistant", "Assistant"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        STREAMING = "streaming", "Streaming"
        DONE = "done", "Done"
        STOPPED = "stopped", "Stopped"
        INTERRUPTED = "interrupted", "Interrupted"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = (Status.QUEUED, Status.STREAMING)

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.USER)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
        help_text="Empty for the assistant.",
    )
    in_reply_to = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replies"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="For an answer: who asked for it (the question's author, or who retried it).",
    )
    body = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DONE)
    # How an answer ended, when it did not simply finish (see also its Generation).
    stop_reason = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    revision = models.PositiveBigIntegerField(
        default=0, help_text="The thread's revision when this message last changed (not frames)."
    )
    last_seq = models.PositiveIntegerField(
        default=0, help_text="Number of the last stream frame whose text is in the body."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Deleted by its author: the body is gone, a tombstone stays.",
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["thread", "id"], name="message_thread_order"),
            models.Index(fields=["thread", "revision"], name="message_thread_revision"),
        ]

    def __str__(self) -> str:
        return f"{self.speaker_name}: {self.body[:50]}"

    # Set by selectors.reply_queue_ahead on queued replies; not stored.
    queue_ahead: int | None = None

    @property
    def is_assistant(self) -> bool:
        return self.role == self.Role.ASSISTANT

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def can_retry(self) -> bool:
        """An ended answer to a question that still exists can be generated again."""
        return self.is_assistant and not self.is_active and self.in_reply_to_id is not None

    @property
    def generation_or_none(self) -> "Generation | None":
        """What produced this answer, if the model began it."""
        try:
            return self.generation
        except ObjectDoesNotExist:
            return None

    @property
    def speaker_name(self) -> str:
        if self.is_assistant:
            return settings.ASSISTANT_NAME
        return self.author.get_username() if self.author else "(deleted user)"

    @property
    def dom_id(self) -> str:
        return f"message-{self.pk}"


class Generation(models.Model):
    """What produced an answer, in one place: the model, its parameters, and the run's figures.

    Made when the model worker starts the answer; the figures are filled in when it ends
    (done, or stopped after it began).
    """

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="generation")
    model_name = models.CharField(max_length=200)
    parameters = models.JSONField(
        default=dict, blank=True, help_text="Sampling parameters and the context window used."
    )
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    time_to_first_token_ms = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.model_name} for message {self.message_id}"
