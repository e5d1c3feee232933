"""Taking PostgreSQL away from the stack and giving it back, as the tests and the bench do.

The outage is real for everyone on the database: it refuses new connections and every open
one is cut, as when the server restarts. Only the stack's own database goes away, never the
server, which others may share.
"""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection
from psycopg import sql


@contextmanager
def database_away() -> Iterator[None]:
    """This process's database refuses connections and drops the open ones until the block
    ends (PostgreSQL only)."""
    db = connection.settings_dict
    name = sql.Identifier(db["NAME"])
    with psycopg.connect(
        host=db["HOST"] or "localhost",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(name))
        try:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                [db["NAME"]],
            )
            yield
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(name))
    connection.close()  # this thread's connection was cut too
