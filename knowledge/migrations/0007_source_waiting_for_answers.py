from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0006_passages_version"),
    ]

    operations = [
        migrations.AddField(
            model_name="source",
            name="waiting_for_answers",
            field=models.BooleanField(
                default=False,
                help_text="Paused while the models answer (KNOWLEDGE_YIELD_TO_MODEL_JOBS).",
            ),
        ),
    ]
