"""Sources and their passages in the admin: to read, re-index or cancel; content is read-only."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Chunk, Source
from .services import chunks_delete, source_cancel, source_reindex


class ChunkInline(admin.TabularInline):
    model = Chunk
    fields = ["ordinal", "locator", "text", "embedding_model", "dimension"]
    readonly_fields = ["ordinal", "locator", "text", "embedding_model", "dimension"]
    extra = 0
    can_delete = False
    show_change_link = True
    max_num = 0  # passages come from ingestion, never from the admin


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "workspace",
        "kind",
        "status",
        "size",
        "pages",
        "rows",
        "chunk_count",
        "added_by",
        "created_at",
    ]
    list_filter = ["kind", "status", "workspace"]
    search_fields = ["title", "url", "file_name", "workspace__name"]
    autocomplete_fields = ["workspace", "added_by", "document"]
    readonly_fields = [
        "status",
        "error",
        "notes",
        "size",
        "pages",
        "rows",
        "chunk_count",
        "progress_done",
        "progress_total",
        "generation",
        "created_at",
        "indexed_at",
        "document_text_at",
        "file_name",
        "content_type",
    ]
    inlines = [ChunkInline]
    actions = ["reindex", "cancel"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Source]:
        return super().get_queryset(request).defer("data")

    @admin.action(description="Re-index the selected sources")
    def reindex(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            source_reindex(source=source)
        self.message_user(request, f"{len(queryset)} source(s) queued.", messages.SUCCESS)

    @admin.action(description="Cancel reading the selected sources")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        user = request.user
        assert user.is_authenticated
        stopped = sum(source_cancel(source=source, by=user) for source in queryset)
        self.message_user(request, f"{stopped} source(s) cancelled.", messages.SUCCESS)


@admin.register(Chunk)
class ChunkAdmin(admin.ModelAdmin):
    list_display = ["__str__", "workspace", "ordinal", "embedding_model", "dimension"]
    list_filter = ["embedding_model", "workspace"]
    search_fields = ["text", "source__title"]
    readonly_fields = [
        "source",
        "workspace",
        "ordinal",
        "text",
        "locator",
        "embedding_model",
        "dimension",
    ]
    exclude = ["embedding"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: Chunk) -> None:
        chunks_delete(chunks=Chunk.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Chunk]) -> None:
        chunks_delete(chunks=queryset)
