"""Names that one socket holds at a time, on every web replica (a Yjs client id, say).

A claim is a Redis key whose value names its holder (``<person>:<socket>``). Taking it is one
atomic step: a free name (or one whose claim expired) is taken, the holder's own claim is
renewed, and a name another socket holds is refused, unless that socket is the same person's:
an editor that reconnects after its connection dropped keeps its name, even while the server
has not yet noticed that the old socket is gone. Letting go deletes the key only if the socket
still holds it. A replica that dies without letting go loses its claims when they expire.
"""

from functools import cache

import redis
from django.conf import settings
from redis.commands.core import Script

from .loops import PerLoop, loop_redis

CLAIM_TTL_S = 600

# KEYS[1] the claim; ARGV: the holder, the same person's holders' prefix, the expiry (s).
_TAKE = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] and string.sub(held, 1, string.len(ARGV[2])) ~= ARGV[2] then
    return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"""
# KEYS[1] the claim; ARGV[1] the holder. 1 if the holder held it (and let go), else 0.
_LET_GO = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


def claim_holder(person_id: int | str, socket_id: str) -> str:
    return f"{person_id}:{socket_id}"


# The holder of what the server itself shows (the assistant writing in a document): no
# person's id, so no socket counts as the same person and takes it over.
SERVER = "server"


class ClaimBoard:
    """This event loop's client for claims (one Redis connection pool per loop)."""

    def __init__(self) -> None:
        self._redis = loop_redis(decode_responses=True)
        self._take = self._redis.register_script(_TAKE)
        self._let_go = self._redis.register_script(_LET_GO)

    async def take(self, name: str, *, person_id: int, socket_id: str) -> bool:
        """Hold ``name`` (or renew the hold) for CLAIM_TTL_S; False if another person's
        socket holds it."""
        holder = claim_holder(person_id, socket_id)
        taken = await self._take(keys=[_key(name)], args=[holder, f"{person_id}:", CLAIM_TTL_S])
        return bool(taken)

    async def let_go(self, name: str, *, person_id: int, socket_id: str) -> bool:
        """Free ``name`` if this socket still holds it; whether it did."""
        let_go = await self._let_go(keys=[_key(name)], args=[claim_holder(person_id, socket_id)])
        return bool(let_go)


def _key(name: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:claim:{name}"


claim_board = PerLoop(ClaimBoard)


@cache
def _server_scripts() -> tuple[Script, Script]:
    """The claim scripts on a synchronous client, for workers (one per process)."""
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    return client.register_script(_TAKE), client.register_script(_LET_GO)


def server_claim_take(name: str, *, holder_id: str) -> bool:
    """From a worker (synchronous): hold ``name`` for the server's own ``holder_id`` (or
    renew the hold); False if a socket holds it already."""
    take, _let_go = _server_scripts()
    holder = claim_holder(SERVER, holder_id)
    return bool(take(keys=[_key(name)], args=[holder, f"{holder}:", CLAIM_TTL_S]))


def server_claim_let_go(name: str, *, holder_id: str) -> None:
    _take, let_go = _server_scripts()
    let_go(keys=[_key(name)], args=[claim_holder(SERVER, holder_id)])
