"""For system checks that also look at the database: only when it is reachable and fully migrated.

``manage.py check`` must work without a database (CI, a build step) and before ``migrate`` (the
rows a check looks for are created by migrations); a check that reads rows asks this first.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor


def database_migrated(alias: str = DEFAULT_DB_ALIAS) -> bool:
    """True when the database answers and no migration is left to apply."""
    try:
        connection = connections[alias]
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        return not executor.migration_plan(executor.loader.graph.leaf_nodes())
    except (DatabaseError, RuntimeError):  # RuntimeError: database access blocked (e.g. pytest-django)
        return False
