"""Answers and document writes still waiting or running when the lifecycle arrived get their
model job, in the same state, so the sweep and stops reach them like any other."""

from django.db import migrations

ACTIVE_ANSWERS = {"queued": "queued", "streaming": "running"}
ACTIVE_WRITES = {"queued": "queued", "writing": "running"}


def jobs_create(apps, schema_editor):
    ModelJob = apps.get_model("jobs", "ModelJob")
    Message = apps.get_model("chat", "Message")
    DocumentWrite = apps.get_model("documents", "DocumentWrite")
    answers = Message.objects.filter(
        role="assistant", status__in=ACTIVE_ANSWERS, job__isnull=True
    ).select_related("thread", "assistant")
    for answer in answers:
        answer.job = ModelJob.objects.create(
            kind="answer",
            status=ACTIVE_ANSWERS[answer.status],
            workspace_id=answer.thread.workspace_id,
            model_id=answer.assistant.model_id if answer.assistant_id else None,
            requested_by_id=answer.requested_by_id,
            last_seq=answer.last_seq,
            heartbeat_at=answer.updated_at,
        )
        answer.save(update_fields=["job"])
    writes = DocumentWrite.objects.filter(
        status__in=ACTIVE_WRITES, job__isnull=True
    ).select_related("document")
    for write in writes:
        write.job = ModelJob.objects.create(
            kind="document write",
            status=ACTIVE_WRITES[write.status],
            workspace_id=write.document.workspace_id,
            requested_by_id=write.requested_by_id,
            started_at=write.started_at,
            heartbeat_at=write.heartbeat_at,
        )
        write.save(update_fields=["job"])


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
        ("chat", "0011_message_job"),
        ("documents", "0004_documentwrite_job"),
    ]

    operations = [migrations.RunPython(jobs_create, migrations.RunPython.noop)]
