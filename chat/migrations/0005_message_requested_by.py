from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def requested_by_from_question(apps, schema_editor):
    """Until now an answer was charged to its question's author."""
    Message = apps.get_model("chat", "Message")
    question_author = Message.objects.filter(pk=OuterRef("in_reply_to")).values("author")[:1]
    Message.objects.filter(role="assistant", in_reply_to__isnull=False).update(
        requested_by=Subquery(question_author)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0004_message_edited_deleted"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="requested_by",
            field=models.ForeignKey(
                blank=True,
                help_text="For an answer: who asked for it (the question's author, or who retried it).",
                null=True,
                on_delete=models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(requested_by_from_question, migrations.RunPython.noop),
    ]
