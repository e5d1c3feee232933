from django.urls import path

from .consumers import CatchUpConsumer

websocket_urlpatterns = [
    path("ws/catch-ups/<int:catch_up_id>/", CatchUpConsumer.as_asgi()),
]
