"""A person's catch-up: what the assistant wrote them about the messages they missed."""

from django.conf import settings
from django.db import models


class CatchUp(models.Model):
    """A summary of a thread's messages after the ones a person had read, for that person only.

    A model job of its own kind (``assistant.catch_ups``): it waits in its model's queue,
    streams, can be stopped, and follows its job (``job.status``). Stored, so that a reload
    shows it again, however far it got. The messages the model was given are kept, numbered
    as the model read them: its ``[n]`` link to those, and to nothing else.
    """

    thread = models.ForeignKey("chat.Thread", on_delete=models.CASCADE, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    job = models.OneToOneField("jobs.ModelJob", on_delete=models.CASCADE, related_name="catch_up")
    after_message_id = models.PositiveBigIntegerField(
        help_text="The newest message the person had read: the summary is of those after it."
    )
    assistant = models.ForeignKey(
        "chat.Assistant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who writes it: the thread's answerer when asked; empty: the default.",
    )
    assistant_name = models.CharField(max_length=60)
    given = models.JSONField(
        default=list,
        blank=True,
        help_text="The messages the model read, numbered: [{number, message_id, speaker}].",
    )
    body = models.TextField(blank=True)
    last_seq = models.PositiveIntegerField(default=0, help_text="The newest frame saved.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["requested_by", "thread", "-id"], name="catch_up_person_thread")
        ]

    def __str__(self) -> str:
        return f"catch-up {self.pk} of thread {self.thread_id} for {self.requested_by_id}"

    @property
    def dom_id(self) -> str:
        return f"catch-up-{self.pk}"
