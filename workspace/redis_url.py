"""One Redis URL, spelled for each client that needs it.

The embedded server listens on a unix socket; channels-redis (redis-py) spells that
``unix:///path`` and Celery's broker ``redis+socket:///path``.
"""


def celery_broker_url(redis_url: str) -> str:
    """Return the Celery broker spelling of ``redis_url``."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url
