"""What streaming answers share through the cache: their newest text.

The database holds an answer's text as of its last save (at most about a second old); every
frame also leaves the whole text here, so a client that (re)connects, a reload, and the sweep
that interrupts a dead worker's answer all get every token generated so far. (A member's stop
request is the job's: ``jobs.services.job_stop``.)

The cache is a help, not the record: if Redis is briefly unavailable, reads find nothing and
writes are dropped (and logged) rather than failing the answer.
"""

import logging
from typing import Any

from django.core.cache import cache

logger = logging.getLogger(__name__)

TTL_S = 24 * 3600


def _text_key(reply_id: int) -> str:
    return f"reply-text:{reply_id}"


def live_text_set(*, reply_id: int, seq: int, text: str) -> None:
    _tolerant(cache.set, _text_key(reply_id), (seq, text), timeout=TTL_S)


def live_text_get_many(reply_ids: list[int]) -> dict[int, tuple[int, str]]:
    """``{reply_id: (seq, text)}`` for the replies the cache knows."""
    if not reply_ids:
        return {}
    found = _tolerant(cache.get_many, [_text_key(reply_id) for reply_id in reply_ids]) or {}
    return {rid: found[_text_key(rid)] for rid in reply_ids if _text_key(rid) in found}


def streaming_state_clear(reply_id: int) -> None:
    _tolerant(cache.delete, _text_key(reply_id))


def _tolerant(operation: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return operation(*args, **kwargs)
    except Exception:
        logger.warning("Cache unavailable for %s", operation.__name__, exc_info=True)
        return None
