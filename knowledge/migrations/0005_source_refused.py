from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("knowledge", "0004_chunk_search_vector"),
    ]

    operations = [
        migrations.AddField(
            model_name="source",
            name="refused",
            field=models.BooleanField(
                default=False,
                help_text="Its address was refused (FetchRefused): only another address can help.",
            ),
        ),
    ]
