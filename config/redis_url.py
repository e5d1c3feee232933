"""One Redis URL, spelled for each client that needs it.

The embedded server listens on a unix socket; channels-redis (redis-py) spells that
``unix:///path`` and Celery's broker ``redis+socket:///path``.
"""

from urllib.parse import parse_qs, urlsplit


def celery_broker_url(redis_url: str) -> str:
    """Return the Celery broker spelling of ``redis_url``."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


def redis_database(redis_url: str) -> int:
    """The database number ``redis_url`` selects (``/n`` or ``?db=n``; 0 when it says none)."""
    parts = urlsplit(redis_url)
    query = parse_qs(parts.query).get("db")
    if query:
        return int(query[0])
    path = parts.path.strip("/")
    return int(path) if parts.scheme in {"redis", "rediss"} and path.isdigit() else 0
