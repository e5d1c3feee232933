from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("llm", "0002_language_model_enabled"),
    ]

    operations = [
        migrations.AddField(
            model_name="languagemodel",
            name="slots",
            field=models.PositiveSmallIntegerField(
                default=0,
                help_text=(
                    "Answers decoded together, each with the whole context size; memory holds "
                    "that many contexts. 0: 2 per CPU core (at most 8), or 16 with GPU layers."
                ),
                verbose_name="answers at once",
            ),
        ),
        migrations.AlterField(
            model_name="languagemodel",
            name="n_threads",
            field=models.PositiveSmallIntegerField(
                default=0, help_text="0: every core its worker may use.", verbose_name="CPU threads"
            ),
        ),
    ]
