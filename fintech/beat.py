"""A beat scheduler that fires jobs only while it holds the leader lock.

Several beat replicas may run (a deploy overlaps old and new pods, or a second replica is kept hot
for failover), but each due job must be sent once. Every replica runs this scheduler; only the one
holding the lock sends anything. The others stay on standby and poll the lock.

Invariants:
- The lock has an expiry (``BEAT_LOCK_TTL``) and the leader renews it on every tick, so a leader
  that dies or hangs loses leadership within one TTL and a standby takes over.
- Renewal is compare-and-extend (redis-py ``Lock.reacquire`` checks the token): a leader whose
  lock expired and was taken by another replica notices and steps down instead of both firing.
- On taking over, the new leader re-reads the schedule from the database, so jobs the previous
  leader already sent (``last_run_at`` is saved after every job: ``beat_sync_every = 1``) are not
  sent again.
- Without Redis (the dev profile's embedded broker) the lock is an exclusive ``flock`` on a file
  under var/, which guards replicas on one machine: the only place the dev profile runs.
Jobs are idempotent anyway (STYLE rule 4); the lock keeps duplicates from being the normal case.
"""

from __future__ import annotations

import datetime
import fcntl
import logging
import os
from pathlib import Path
from typing import Any

import redis
from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler
from redis.exceptions import LockError

logger = logging.getLogger(__name__)

LOCK_NAME = "fintech:beat-leader"


class _RedisLeaderLock:
    def __init__(self, url: str, ttl: float) -> None:
        self._lock = redis.Redis.from_url(url).lock(LOCK_NAME, timeout=ttl, thread_local=False)

    def hold(self) -> bool:
        try:
            if self._lock.owned():
                self._lock.reacquire()
                return True
            return bool(self._lock.acquire(blocking=False))
        except (LockError, redis.RedisError) as exc:
            logger.warning("beat leader lock lost (%s)", type(exc).__name__)
            return False

    def release(self) -> None:
        try:
            if self._lock.owned():
                self._lock.release()
        except (LockError, redis.RedisError):
            logger.warning("beat leader lock could not be released; it will expire")


class _FileLeaderLock:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self._held = False

    def hold(self) -> bool:
        if self._held:
            return True
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._held = True
        return True

    def release(self) -> None:
        if self._held:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._held = False


class SingleLeaderScheduler(DatabaseScheduler):
    """django-celery-beat's database scheduler, gated by a leader lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        ttl = float(getattr(settings, "BEAT_LOCK_TTL", 30))
        if settings.REDIS_URL:
            self._leader_lock: _RedisLeaderLock | _FileLeaderLock = _RedisLeaderLock(settings.REDIS_URL, ttl)
        else:
            self._leader_lock = _FileLeaderLock(Path(settings.VAR_DIR) / "beat-leader.lock")
        self._is_leader = False
        self._announced_standby = False
        # Standbys poll, and leaders renew, well within the lock's lifetime.
        self._poll_interval = max(ttl / 3, 0.5)
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        # Liveness for the orchestrator (deploy/k8s probes): the loop turns, leader or standby.
        # A missing directory (a fresh checkout, an empty volume) is created; a file that cannot be
        # written at all only stops the heartbeat, which the liveness probe then reports.
        heartbeat = Path(settings.BEAT_HEARTBEAT_FILE)
        try:
            heartbeat.parent.mkdir(parents=True, exist_ok=True)
            heartbeat.touch()
        except OSError:
            logger.warning("beat: cannot write the heartbeat file", exc_info=True)
        if not self._leader_lock.hold():
            if self._is_leader or not self._announced_standby:
                logger.info("beat: standing by; another replica holds the leader lock")
                self._announced_standby = True
            self._is_leader = False
            return self._poll_interval
        if not self._is_leader:
            logger.info("beat: leader lock acquired; sending due jobs")
            self._is_leader = True
            if self._announced_standby:
                # Taking over: force django-celery-beat's periodic full re-read so the schedule
                # (and the last run times the previous leader saved) come from the database,
                # not from this replica's stale memory.
                self._last_full_sync = datetime.datetime.min  # noqa: DTZ901 - the library compares naive times
        return min(super().tick(*args, **kwargs), self._poll_interval)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._leader_lock.release()
