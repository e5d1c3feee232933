"""Threads, the messages in them (written by people or by assistants), and the assistants."""

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from workspace.models import Workspace

from .mentions import PersonMention

# A handle is what people type after "@": lowercase, so that a mention matches whatever the case.
HANDLE_PATTERN = r"[a-z][a-z0-9_-]*"
HANDLE_MAX_LENGTH = 30


# What a member sets of an assistant (its form, its services, the admin beside its workspace
# and creator).
ASSISTANT_FIELDS = (
    "handle",
    "display_name",
    "colour",
    "model",
    "system_prompt",
    "temperature",
    "max_tokens",
)


class Assistant(models.Model):
    """A participant of a workspace that answers when mentioned by its handle (``@scribe``).

    It writes with one of the installation's language models (``llm.LanguageModel``, named by
    label only: chat does not import llm), under its own instructions and sampling settings.
    The installation's default assistant (``ASSISTANT_NAME``, configured by the environment) is
    not a row: it answers in every workspace and no handle here may take its name.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="assistants")
    handle = models.CharField(
        max_length=HANDLE_MAX_LENGTH,
        validators=[
            RegexValidator(
                rf"^{HANDLE_PATTERN}\Z",
                "A handle is lowercase letters, digits, “_” and “-”, starting with a letter.",
            )
        ],
        help_text="Mentioned as @handle.",
    )
    display_name = models.CharField(max_length=60)
    colour = models.CharField(
        max_length=7,
        default="#7c3aed",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}\Z", "A colour is #rrggbb.")],
    )
    model = models.ForeignKey(
        "llm.LanguageModel", on_delete=models.PROTECT, related_name="assistants"
    )
    system_prompt = models.TextField(
        blank=True, help_text="Its instructions; {name} becomes its name. Empty: the default."
    )
    temperature = models.FloatField(
        default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    max_tokens = models.PositiveIntegerField(
        default=512, validators=[MinValueValidator(1), MaxValueValidator(8192)]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "handle"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "handle"], name="unique_assistant_handle")
        ]

    def __str__(self) -> str:
        return f"@{self.handle} in {self.workspace}"


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
    last_activity_at = models.DateTimeField(
        default=timezone.now,
        help_text="When it was started or last had a person's message: the sidebar's order.",
    )
    revision = models.PositiveBigIntegerField(
        default=0, help_text="Number of the thread's latest change to a message."
    )
    # Per-thread settings (``services.thread_settings_update``), shown live to every member.
    answers_unaddressed = models.BooleanField(
        default=False,
        help_text="Whether a message that mentions nobody is answered (by ``answerer``).",
    )
    answerer = models.ForeignKey(
        Assistant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who answers unaddressed messages; empty: the default assistant.",
    )
    system_prompt_override = models.TextField(
        blank=True, help_text="Replaces the answering assistant's instructions in this thread."
    )
    temperature_override = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    max_tokens_override = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(8192)]
    )

    class SourcesUse(models.TextChoices):
        ALL = "all", "all of the workspace's sources"
        SOME = "some", "the sources chosen here"
        NONE = "none", "no sources"

    sources_use = models.CharField(
        "sources the assistants may use",
        max_length=4,
        choices=SourcesUse.choices,
        default=SourcesUse.ALL,
    )
    # The workspace's knowledge sources (by label: chat does not import knowledge).
    chosen_sources = models.ManyToManyField(
        "knowledge.Source", blank=True, related_name="+", help_text="When only some may be used."
    )

    objects = ThreadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["workspace", "-last_activity_at", "-id"], name="thread_workspace_activity"
            )
        ]

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
    assistant = models.ForeignKey(
        Assistant,
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="answers",
        help_text="For an answer: which assistant writes it; empty: the default assistant.",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="For an answer: who asked for it (the question's author, or who retried it).",
    )
    job = models.OneToOneField(
        "jobs.ModelJob",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="answer",
        help_text="For an answer: its model job, whose lifecycle its status follows.",
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
    # Set by selectors.messages_mentions_resolve on people's messages: the members their text
    # mentions, each shown as a link (``chat.mentions.PersonMention``); not stored.
    mentioned: list[PersonMention] | None = None

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
            return self.assistant.display_name if self.assistant else settings.ASSISTANT_NAME
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
    assistant = models.ForeignKey(
        Assistant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    assistant_handle = models.CharField(
        max_length=HANDLE_MAX_LENGTH, blank=True, help_text="Who answered, as it was mentioned."
    )
    model_name = models.CharField(max_length=200)
    system_prompt = models.TextField(blank=True, help_text="The instructions the model read.")
    parameters = models.JSONField(
        default=dict, blank=True, help_text="Sampling parameters and the context window used."
    )
    thread_overrides = models.JSONField(
        default=list, blank=True, help_text="Which settings came from the thread's overrides."
    )
    sources = models.JSONField(
        default=list,
        blank=True,
        help_text="The numbered passages the model was given, and whether the answer cites each.",
    )
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    time_to_first_token_ms = models.FloatField(null=True, blank=True)
    tokens_per_second = models.FloatField(null=True, blank=True)
    first_token_steps_ms = models.JSONField(
        default=dict,
        blank=True,
        help_text="Where the time before the first frame went, by step (ms), as the worker saw it.",
    )
    started_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.model_name} for message {self.message_id}"


class ThreadRead(models.Model):
    """How far a person has read a thread: the newest message they were shown there.

    Kept on the server, so it follows them across devices and browsers. The messages of other
    people after it are their unread ones (``selectors.thread_list_with_unread``).
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="thread_reads"
    )
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="reads")
    last_read_message_id = models.PositiveBigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "thread"], name="unique_thread_read")
        ]

    def __str__(self) -> str:
        return f"{self.user} read {self.thread} up to message {self.last_read_message_id}"
