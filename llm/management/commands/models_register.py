from django.conf import settings
from django.core.management.base import BaseCommand

from llm.models import LanguageModel
from llm.services import models_register_bundled, models_register_folder


class Command(BaseCommand):
    help = (
        "Register the bundled models (SmolLM2-135M-Instruct, Gemma 3 270M) and every GGUF in "
        "LLM_MODELS_DIR that is not yet known, then list every known model and whether it can "
        "serve. Safe to run again: known files are left as they are."
    )

    def handle(self, *args: object, **options: object) -> None:
        models_register_bundled()
        models_register_folder(settings.LLM_MODELS_DIR)
        for model in LanguageModel.objects.all():
            state = "available" if model.available else f"unavailable: {model.unavailable_reason}"
            self.stdout.write(f"{model.name} ({model.get_source_display()}, {state})")
