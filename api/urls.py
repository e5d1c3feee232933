from django.urls import path

from . import views
from .api import api
from .openai_compat import openai_api

urlpatterns = [
    path("api/", api.urls),
    path("v1/", openai_api.urls),
    path("settings/tokens/", views.api_token_list_view, name="api-tokens"),
    path("t/<int:thread_id>/export/", views.thread_export_view, name="thread-export"),
    path("d/<int:document_id>/export/", views.document_export_view, name="document-export"),
    path(
        "settings/tokens/<int:token_id>/revoke/",
        views.api_token_revoke_view,
        name="api-token-revoke",
    ),
]
