"""A per-key rate limit in the shared cache (Redis), so it holds across every web replica."""

import logging
import math
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)


def rate_limit_wait(key: str, *, limit: int, window_s: int) -> int:
    """Count one action under ``key``; the seconds to wait if it is over ``limit`` per window.

    Fixed windows: at most ``limit`` actions from the start of each ``window_s``-second window.
    With the cache unreachable nothing is limited (logged): a rate limit must not take posting
    down with it.
    """
    now = time.time()
    window = int(now // window_s)
    counter = f"rate:{key}:{window}"
    try:
        cache.add(counter, 0, timeout=window_s + 1)
        count = cache.incr(counter)
    except Exception:
        logger.warning("Rate limit %s not checked: the cache is unavailable", key, exc_info=True)
        return 0
    if count <= limit:
        return 0
    return max(1, math.ceil((window + 1) * window_s - now))
