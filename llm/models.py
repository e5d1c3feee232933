"""The language models this installation knows: GGUF files, and how a worker should load each."""

from pathlib import Path

from django.db import models


class LanguageModel(models.Model):
    """A GGUF file that assistants can answer with.

    Registered from the bundled packages, found in ``LLM_MODELS_DIR``, or added by an admin.
    Its file is checked when it is added and before a worker loads it; a missing or broken
    file marks the model unavailable (with the reason), so only its own answers fail.
    """

    class Source(models.TextChoices):
        BUNDLED = "bundled", "Bundled with Roundtable"
        FOLDER = "folder", "Found in the models folder"
        ADMIN = "admin", "Added by an admin"

    name = models.CharField(max_length=100, unique=True)
    path = models.CharField(
        max_length=1000, unique=True, help_text="Absolute path of the GGUF file on the workers."
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADMIN)
    n_ctx = models.PositiveIntegerField(
        "context size", default=2048, help_text="Tokens of context (prompt and answer)."
    )
    n_gpu_layers = models.IntegerField(
        "GPU layers", default=0, help_text="Layers to offload to a GPU; -1 for all, 0 for none."
    )
    n_threads = models.PositiveSmallIntegerField(
        "CPU threads", default=0, help_text="0: every core its worker may use."
    )
    slots = models.PositiveSmallIntegerField(
        "answers at once",
        default=0,
        help_text=(
            "Answers decoded together, each with the whole context size; memory holds that "
            "many contexts. 0: 2 per CPU core (at most 8), or 16 with GPU layers."
        ),
    )
    enabled = models.BooleanField(
        default=True,
        help_text="Served: `make run` starts a worker for it when it fits in memory.",
    )
    has_chat_template = models.BooleanField(
        default=False,
        editable=False,
        help_text="Read from the file: without one, the model reads a plain transcript.",
    )
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    available = models.BooleanField(default=False, editable=False)
    unavailable_reason = models.TextField(blank=True, editable=False)
    checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name if self.available else f"{self.name} (unavailable)"

    @property
    def file(self) -> Path:
        return Path(self.path)

    @property
    def answers_at_once(self) -> int:
        from .model import default_slots

        return self.slots or default_slots(n_gpu_layers=self.n_gpu_layers)

    @property
    def queue(self) -> str:
        """The Celery queue its answers wait on (one per model, ``llm.routing``)."""
        return f"llm.model-{self.pk}"
