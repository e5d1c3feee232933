from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"

    def ready(self) -> None:
        from chat.signals import reply_queue_moved

        from .writes import writes_queue_moved

        # Writes wait on the default model's queue beside its answers: when one of those
        # ends, the writes behind it move up.
        reply_queue_moved.connect(writes_queue_moved, dispatch_uid="documents-writes-queue")
