# Tokens made before tokens could expire keep no expiry ("never"): nothing that works today
# stops working unannounced; their people see them marked on the tokens page.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('api', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='apitoken',
            name='expires_at',
            field=models.DateTimeField(blank=True, editable=False, help_text='From then on the token no longer works; empty: it never expires.', null=True),
        ),
    ]
