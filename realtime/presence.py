"""Who is here: the people with a socket open on a topic, on every web replica.

Each open socket is a field of one Redis hash per topic (``presence:<topic>``), holding its
person and when the entry expires; sockets renew their entry while they are open, so a replica
that dies takes its people out within ``PRESENCE_TTL_S``. When someone comes or goes, the
process that saw it publishes the topic's list of people (``presence.changed``, in
``realtime.events``), at most once per ``ANNOUNCE_DELAY_S`` per topic: a page that a hundred
people open at once announces a few lists, not a hundred. A person with two tabs open is
listed once.

Typing is not stored: a socket's "I am typing" is published as ``presence.typing`` and shown
for a few seconds.
"""

import asyncio
import json
import logging
import time

from django.conf import settings

from .events import Person, PresenceChanged, PresenceTyping
from .loops import PerLoop, loop_redis, task_kept
from .publish import publish_async

logger = logging.getLogger(__name__)

PRESENCE_TTL_S = 60
RENEW_EVERY_S = 25
ANNOUNCE_DELAY_S = 0.2


def _key(topic: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:presence:{topic}"


class PresenceBoard:
    """This event loop's view of presence: one Redis client, one pending announce per topic."""

    def __init__(self) -> None:
        self._redis = loop_redis()
        self._announcing: set[str] = set()

    async def enter(self, topic: str, socket_id: str, person: Person) -> None:
        await self.renew(topic, socket_id, person)
        self._announce(topic)

    async def renew(self, topic: str, socket_id: str, person: Person) -> None:
        entry = json.dumps({**person, "until": time.time() + PRESENCE_TTL_S})
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hset(_key(topic), socket_id, entry)
            pipe.expire(_key(topic), PRESENCE_TTL_S)
            await pipe.execute()

    async def leave(self, topic: str, socket_id: str) -> None:
        await self._redis.hdel(_key(topic), socket_id)
        self._announce(topic)

    async def people(self, topic: str) -> list[Person]:
        """Everyone present, once each, by name; entries of dead replicas are dropped."""
        entries = await self._redis.hgetall(_key(topic))
        now, people, expired = time.time(), {}, []
        for socket_id, raw in entries.items():
            entry = json.loads(raw)
            if entry["until"] < now:
                expired.append(socket_id)
            else:
                people[entry["id"]] = Person(id=entry["id"], name=entry["name"])
        if expired:
            await self._redis.hdel(_key(topic), *expired)
        return sorted(people.values(), key=lambda person: (person["name"].lower(), person["id"]))

    def _announce(self, topic: str) -> None:
        if topic in self._announcing:
            return  # the pending announce will read the list as it is then
        self._announcing.add(topic)
        task_kept(self._announce_after_delay(topic))

    async def _announce_after_delay(self, topic: str) -> None:
        await asyncio.sleep(ANNOUNCE_DELAY_S)
        self._announcing.discard(topic)
        try:
            await publish_async(topic, PresenceChanged(people=await self.people(topic)))
        except Exception:  # presence is a courtesy: never let it break the socket
            logger.warning("Could not announce who is in %s", topic, exc_info=True)


presence_board = PerLoop(PresenceBoard)


async def typing_announce(topic: str, person: Person) -> None:
    await publish_async(topic, PresenceTyping(person=person))
