"""Documents in the admin: their text and history to read; the content is edited in the page."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Document, DocumentVersion, DocumentWrite


class DocumentVersionInline(admin.TabularInline):
    model = DocumentVersion
    fields = ["name", "created_by", "created_at"]
    readonly_fields = ["created_by", "created_at"]
    extra = 0
    show_change_link = True


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "workspace", "created_by", "updated_at", "deleted_at"]
    list_filter = ["workspace", "deleted_at"]
    search_fields = ["title", "text", "workspace__name"]
    autocomplete_fields = ["workspace", "created_by"]
    readonly_fields = [
        "text",
        "text_at",
        "updated_at",
        "deleted_by",
        "snapshot_size",
        "log_length",
    ]
    inlines = [DocumentVersionInline]
    actions = ["restore"]

    @admin.display(description="Updates not yet compacted")
    def log_length(self, document: Document) -> int:
        return document.updates.count()

    @admin.action(description="Restore the selected deleted documents")
    def restore(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        restored = queryset.filter(deleted_at__isnull=False).update(
            deleted_at=None, deleted_by=None
        )
        self.message_user(request, f"Restored {restored} document(s).")


@admin.register(DocumentVersion)
class DocumentVersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "document", "created_by", "created_at"]
    search_fields = ["name", "document__title"]
    readonly_fields = ["document", "text", "created_by", "created_at"]
    fields = ["document", "name", "text", "created_by", "created_at"]


@admin.register(DocumentWrite)
class DocumentWriteAdmin(admin.ModelAdmin):
    """The assistant's writes into documents: who asked for what, and how each ended."""

    list_display = ["__str__", "document", "requested_by", "status", "created_at", "finished_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["instruction", "document__title"]
    readonly_fields = [
        "document", "requested_by", "instruction", "anchor", "head", "source_thread", "status",
        "written", "error", "stopped_by", "created_at", "finished_at", "job",
    ]  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # members ask from the document page, where the cursor is
