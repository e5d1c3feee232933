"""The session and user of a socket, found once when it opens; its sends pass straight through.

Channels' ``AuthMiddlewareStack`` wraps ``send`` of every connection it serves so that it can
save the session and set its cookie on ``http.response.start``. A WebSocket never sends that
message, yet the wrapper still asks the session, on each message a socket sends, whether it was
modified and whether it is empty: at hundreds of sockets and 25 frames a second, that was a
sixth of daphne's time (bench/README.md). Sockets get the same scope (``cookies``, ``session``,
``user``) from this stack, and their messages go to the server unwrapped.
"""

from typing import Any

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper


class SocketSessionMiddleware:
    """The session in the scope, as Channels' ``SessionMiddleware`` finds it, without the
    wrapper around ``send`` (sockets never save a session or set a cookie through it)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] != "websocket":
            raise ValueError("SocketSessionMiddleware serves WebSocket connections only")
        session = InstanceSessionWrapper(scope, send)
        await session.resolve_session()
        return await self.inner(session.scope, receive, send)


def socket_auth_stack(inner: Any) -> Any:
    """Channels' ``AuthMiddlewareStack`` for sockets: cookies, session and user in the scope."""
    return CookieMiddleware(SocketSessionMiddleware(AuthMiddleware(inner)))
