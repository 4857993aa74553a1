"""The per-process snapshot of what authentication needs from a user row, and its invalidation.

Every API request used to load the whole user row (the ORM query, its encrypted columns decrypted)
only to compare ``is_active`` and ``auth_epoch`` with the token: the largest single item of an API
request's CPU (docs/BENCHMARKS.md, "API request profile"). Each process now keeps, per user, the
few columns authentication and authorisation read (``SNAPSHOT_FIELDS``: no personal information;
every other column is left deferred and loads on first use, as with ``.only()``), and rebuilds a
fresh ``User`` instance from them for each request (no permission cache carries over).

Invariant: a change to a user row takes effect on that user's very next request, in every process.
- A snapshot is tagged with the user's *generation*: a random value under a shared Redis key, read
  in the same round trip as the token deny lists (``accounts.tokens.revocation_state``) **before**
  the row is read. A snapshot is used only while its tag equals the current generation.
- Every write to a user row through the ORM deletes the generation, at once and again after the
  transaction commits (``User.save``/``delete`` and ``UserQuerySet.update``/``delete``;
  ``bulk_update`` and the services' ``update()`` calls go through the latter). The next request
  then finds no generation, sets a new random one (``SET NX``) and
  reads the row from the database. A request that read the old generation and the old row races
  the change it overlaps, like any request in flight; its snapshot carries a tag that will never be
  current again.
- Permissions (roles are groups) are not part of the snapshot: ``has_perm`` queries them per
  request as before, so a role change needs no invalidation.
- Defence in depth for writes that bypass the ORM (SQL typed by an operator): a snapshot is used
  for at most ``MAX_AGE_SECONDS``; a missing Redis generation means no snapshot is used at all.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Model

GENERATION_KEY = "auth:user-generation:{public_id}"
# The columns a request may read without loading the row: identity, account state, token epoch
# (kept in the model's column order, as ``Model.from_db`` expects: see ``snapshot_fields``).
SNAPSHOT_FIELDS = frozenset({"id", "public_id", "is_active", "is_staff", "is_superuser", "auth_epoch"})
MAX_AGE_SECONDS = 30
# Redis keeps a generation this long after it was set (an absent one is simply set again).
GENERATION_TIMEOUT = 24 * 3600
_MAX_ENTRIES = 10_000

# public_id (str) -> (generation, values in SNAPSHOT_FIELDS order, time.monotonic() when read)
_snapshots: dict[str, tuple[str, tuple[Any, ...], float]] = {}


def snapshot_fields(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields if field.attname in SNAPSHOT_FIELDS)


def generation_key(public_id: Any) -> str:
    return GENERATION_KEY.format(public_id=public_id)


def claim_generation(public_id: Any) -> str | None:
    """Set a new generation for a user who has none; ``None`` if another request set one first
    (this request then reads the row and keeps no snapshot)."""
    generation = secrets.token_hex(8)
    return generation if cache.add(generation_key(public_id), generation, timeout=GENERATION_TIMEOUT) else None


def snapshot_get(public_id: str, generation: str | None) -> tuple[Any, ...] | None:
    if generation is None:
        return None
    entry = _snapshots.get(public_id)
    if entry is None or entry[0] != generation or time.monotonic() - entry[2] > MAX_AGE_SECONDS:
        return None
    return entry[1]


def snapshot_put(public_id: str, generation: str | None, user: Model, fields: tuple[str, ...]) -> None:
    if generation is None:
        return
    if len(_snapshots) >= _MAX_ENTRIES:
        _snapshots.clear()
    _snapshots[public_id] = (generation, tuple(getattr(user, name) for name in fields), time.monotonic())


def forget(public_ids: Iterable[Any], using: str | None = None) -> None:
    """Invalidate every process's snapshot of these users: at once, and again after the current
    transaction commits (a request between the two may have snapshotted the row as it was before
    the commit, under a generation it claimed in between)."""
    keys = [generation_key(public_id) for public_id in public_ids]
    if not keys:
        return
    cache.delete_many(keys)
    if transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(lambda: cache.delete_many(keys), using=using)


def clear_local() -> None:
    """Drop this process's snapshots (tests)."""
    _snapshots.clear()
