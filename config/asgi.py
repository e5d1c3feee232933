"""ASGI entry point: HTTP to Django, WebSockets to Channels consumers (served by daphne)."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402 - needs Django set up

from assistant.routing import websocket_urlpatterns as catch_up_sockets  # noqa: E402
from chat.routing import websocket_urlpatterns as chat_sockets  # noqa: E402
from documents.routing import websocket_urlpatterns as document_sockets  # noqa: E402
from knowledge.routing import websocket_urlpatterns as source_sockets  # noqa: E402
from notifications.routing import websocket_urlpatterns as inbox_sockets  # noqa: E402
from realtime.origin import OriginValidator  # noqa: E402
from realtime.publish import WebLoopBinding  # noqa: E402
from realtime.sessions import socket_auth_stack  # noqa: E402

from .stacks import stacks_on_signal  # noqa: E402

application = WebLoopBinding(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": OriginValidator(
                socket_auth_stack(
                    URLRouter(
                        chat_sockets
                        + catch_up_sockets
                        + document_sockets
                        + source_sockets
                        + inbox_sockets
                    )
                )
            ),
        }
    )
)


def _garbage_collector_tune() -> None:
    """Shorter and rarer collection pauses in a process that holds many open sockets.

    A full collection scans every tracked object and stops the event loop meanwhile: with 500
    sockets open, daphne paused for 30-110 ms every few seconds, which was the p99 of frame
    delivery (bench/README.md). Django, the templates and the routing loaded above live as long
    as the process, so they are frozen out of collections; and young objects get collected
    less often, so fewer in-flight ones (a frame being written) survive into older generations
    and trigger full collections.
    """
    gc.freeze()
    gc.set_threshold(10_000, *gc.get_threshold()[1:])


_garbage_collector_tune()
stacks_on_signal()
