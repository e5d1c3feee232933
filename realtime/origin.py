"""WebSocket origin check: the full origin (scheme, host and port), not the host name alone.

A browser sends the ``Origin`` of the page that opens a socket. Cookies go along whatever that
page is, so a page served from another port or scheme of the same host (``http://127.0.0.1:9``
beside ``http://127.0.0.1:8000``) must not be able to open a member's socket. Accepted: the
site's own origin (the socket's scheme made http/https, with the ``Host`` it was opened on,
when that host is in ``ALLOWED_HOSTS``) and each origin in ``WEBSOCKET_ALLOWED_ORIGINS`` (for
a proxy that terminates TLS, say). Anything else, a missing ``Origin`` included, is refused
before the handshake completes.
"""

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HTTP_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}

Origin = tuple[str, str, int]


def origin_parse(value: str) -> Origin | None:
    """``(scheme, host, port)`` with the port made explicit; None if it is no http(s) origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _own_origin(scope: dict[str, Any]) -> Origin | None:
    headers = dict(scope.get("headers", ()))
    host = headers.get(b"host", b"").decode("latin-1")
    scheme = _HTTP_SCHEME.get(scope.get("scheme", "ws"), "http")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    return origin_parse(f"{scheme}://{host}")


def origin_allowed(scope: dict[str, Any]) -> bool:
    headers = dict(scope.get("headers", ()))
    origin = origin_parse(headers.get(b"origin", b"").decode("latin-1"))
    if origin is None:
        return False
    configured = {origin_parse(o) for o in settings.WEBSOCKET_ALLOWED_ORIGINS}
    return origin == _own_origin(scope) or origin in configured


class OriginValidator:
    """ASGI middleware: refuse sockets whose ``Origin`` is not the site's own or configured."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
