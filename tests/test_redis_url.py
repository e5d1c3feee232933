"""One Redis URL, spelled for each client: the broker's spelling and the database it selects."""

import pytest

from config.redis_url import celery_broker_url, redis_database


@pytest.mark.parametrize(
    ("url", "database"),
    [
        ("redis://127.0.0.1:6379", 0),
        ("redis://127.0.0.1:6379/0", 0),
        ("redis://127.0.0.1:6379/9", 9),
        ("redis://127.0.0.1:6379?db=3", 3),
        ("unix:///tmp/redis.sock", 0),
        ("unix:///tmp/redis.sock?db=2", 2),
    ],
)
def test_the_database_a_url_selects(url, database):
    assert redis_database(url) == database


def test_celery_spells_a_unix_socket_its_own_way():
    assert celery_broker_url("unix:///tmp/r.sock") == "redis+socket:///tmp/r.sock"
    assert celery_broker_url("redis://h:1/0") == "redis://h:1/0"
