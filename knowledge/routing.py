from django.urls import path

from .consumers import SourcesConsumer

websocket_urlpatterns = [
    path("ws/workspaces/<int:workspace_id>/sources/", SourcesConsumer.as_asgi()),
]
